//! The reading and housekeeping side of [`JobQueue`]: lists and pruning.

use std::time::Duration;

use super::JobQueue;
use super::queue::ms;
use super::repo::{COLUMNS, from_row};
use super::types::JobFilter;
use crate::Result;
use crate::api::JobList;
use crate::store::{Paging, db_err, now_ms};

impl JobQueue {
    /// A page of jobs, newest first, with `_metainfo` like the documents list.
    pub async fn list(&self, filter: &JobFilter) -> Result<JobList> {
        let paging = Paging::new(filter.page, filter.per_page)?;
        let mut sql = format!("SELECT {COLUMNS} FROM jobs WHERE 1 = 1");
        let mut n = 0;
        if filter.owner.is_some() {
            n += 1;
            sql.push_str(&format!(" AND owner_id = ${n}"));
        }
        if filter.state.is_some() {
            n += 1;
            sql.push_str(&format!(" AND state = ${n}"));
        }
        sql.push_str(&format!(
            " ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        ));
        let mut query = sqlx::query(&sql);
        if let Some(owner) = filter.owner {
            query = query.bind(owner.to_string());
        }
        if let Some(state) = filter.state {
            query = query.bind(state.as_str());
        }
        let rows = query
            .bind(paging.limit())
            .bind(paging.offset())
            .fetch_all(self.db().pool())
            .await
            .map_err(db_err("listing jobs"))?;
        let mut items = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
        let metainfo = paging.page(&mut items);
        Ok(JobList { items, metainfo })
    }

    /// Deletes finished jobs (succeeded, failed, cancelled) that finished more than
    /// `older_than` ago; answers how many.
    pub async fn prune_finished(&self, older_than: Duration) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled') \
             AND finished_at < $1",
        )
        .bind(now_ms().saturating_sub(ms(older_than)))
        .execute(self.db().pool())
        .await
        .map_err(db_err("pruning finished jobs"))?;
        Ok(done.rows_affected())
    }
}
