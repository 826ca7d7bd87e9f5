//! [`Paging`]: the page a list asks for, and the `_metainfo` of the page it gets. Pure:
//! the lists of documents, assets and jobs each fetch `limit()` rows at `offset` and hand
//! them to [`Paging::page`].

use crate::api::{DEFAULT_PER_PAGE, MAX_PER_PAGE, MetaInfo};
use crate::{Error, Result};

/// A checked page of a list: page (from 1), per page (1 to [`MAX_PER_PAGE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Paging {
    page: u32,
    per_page: u32,
}

impl Paging {
    /// The page asked for by `?page=&perPage=` (defaults 1 and [`DEFAULT_PER_PAGE`]).
    pub(crate) fn new(page: Option<u32>, per_page: Option<u32>) -> Result<Self> {
        let page = page.unwrap_or(1);
        let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
        if page == 0 {
            return Err(Error::invalid_request(
                "page 0 is not valid: pages count from 1",
            ));
        }
        if per_page == 0 || per_page > MAX_PER_PAGE {
            return Err(Error::invalid_request(format!(
                "perPage {per_page} is not valid: expected 1 to {MAX_PER_PAGE}"
            )));
        }
        Ok(Paging { page, per_page })
    }

    /// How many rows to fetch: one more than a page, whose presence says that a later
    /// page has items.
    pub(crate) fn limit(&self) -> i64 {
        i64::from(self.per_page) + 1
    }

    /// How many rows come before the page.
    pub(crate) fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }

    /// Cuts `rows` (fetched with [`limit`](Self::limit)) to the page, and says where it is.
    pub(crate) fn page<T>(&self, rows: &mut Vec<T>) -> MetaInfo {
        let has_next = rows.len() > self.per_page as usize;
        rows.truncate(self.per_page as usize);
        MetaInfo {
            current_page: self.page,
            per_page: self.per_page,
            has_next,
            has_prev: self.page > 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_has_defaults_and_bounds() {
        let first = Paging::new(None, None).unwrap();
        assert_eq!((first.limit(), first.offset()), (21, 0));
        let third = Paging::new(Some(3), Some(100)).unwrap();
        assert_eq!((third.limit(), third.offset()), (101, 200));
        assert!(Paging::new(Some(0), Some(10)).is_err());
        assert!(Paging::new(Some(1), Some(0)).is_err());
        let err = Paging::new(Some(1), Some(101)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "perPage 101 is not valid: expected 1 to 100"
        );
    }

    #[test]
    fn the_extra_row_says_a_later_page_exists() {
        let paging = Paging::new(Some(2), Some(2)).unwrap();
        let mut rows = vec![1, 2, 3];
        let meta = paging.page(&mut rows);
        assert_eq!(rows, [1, 2]);
        assert!(meta.has_next && meta.has_prev);
        assert_eq!((meta.current_page, meta.per_page), (2, 2));
        let mut rows = vec![1];
        assert!(!paging.page(&mut rows).has_next);
    }
}
