//! The few `head` and `hhea` numbers text layout needs, read straight from the font file.
//!
//! The format places the first baseline at the `hhea` ascender, and parley's own line
//! metrics may come from `OS/2` instead, so spv reads the table itself. Every read is
//! bounds-checked: a truncated or hostile file gives `None`, never a panic.

/// Vertical metrics of one face, in font units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Metrics {
    /// `head.unitsPerEm`, at least 16 and at most 16384 in a valid font.
    pub(crate) units_per_em: u16,
    /// `hhea.ascender`: distance from the baseline up to the top of the line.
    pub(crate) ascender: i16,
    /// `hhea.descender`: distance from the baseline to the bottom (usually negative).
    pub(crate) descender: i16,
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    let bytes = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([bytes[0], bytes[1]]))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    let bytes = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// The bytes of table `tag` of face `index` (a plain font has only face 0; a `ttcf`
/// collection has several).
fn table<'a>(data: &'a [u8], index: u32, tag: &[u8; 4]) -> Option<&'a [u8]> {
    let face = if data.get(..4)? == b"ttcf" {
        let count = u32_at(data, 8)?;
        if index >= count {
            return None;
        }
        usize::try_from(u32_at(data, 12 + 4 * usize::try_from(index).ok()?)?).ok()?
    } else if index == 0 {
        0
    } else {
        return None;
    };
    let tables = usize::from(u16_at(data, face.checked_add(4)?)?);
    for i in 0..tables {
        let record = face.checked_add(12 + 16 * i)?;
        if data.get(record..record.checked_add(4)?)? == tag {
            let offset = usize::try_from(u32_at(data, record + 8)?).ok()?;
            let length = usize::try_from(u32_at(data, record + 12)?).ok()?;
            return data.get(offset..offset.checked_add(length)?);
        }
    }
    None
}

/// The metrics of face `index` of `data`, or `None` when the tables are missing or cut short.
pub(crate) fn metrics(data: &[u8], index: u32) -> Option<Metrics> {
    let head = table(data, index, b"head")?;
    let hhea = table(data, index, b"hhea")?;
    let units_per_em = u16_at(head, 18)?;
    if !(16..=16384).contains(&units_per_em) {
        return None;
    }
    // Reinterpreting the big-endian u16 as i16 is how FWORD is defined.
    let ascender = u16_at(hhea, 4)? as i16;
    let descender = u16_at(hhea, 6)? as i16;
    Some(Metrics {
        units_per_em,
        ascender,
        descender,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dejavu_hhea_and_head() {
        let m = metrics(super::super::BOOK_TTF, 0).unwrap();
        assert_eq!(
            m,
            Metrics {
                units_per_em: 2048,
                ascender: 1901,
                descender: -483
            }
        );
        assert_eq!(metrics(super::super::BOLD_TTF, 0).unwrap().ascender, 1901);
        assert_eq!(metrics(super::super::BOOK_TTF, 1), None);
    }

    #[test]
    fn garbage_and_truncation_give_none() {
        assert_eq!(metrics(b"", 0), None);
        assert_eq!(metrics(b"not a font at all, just words", 0), None);
        assert_eq!(metrics(b"ttcf\0\x01\0\0\xff\xff\xff\xff", 0), None);
        let font = super::super::BOOK_TTF;
        for cut in [4, 12, 100, 400, 1000] {
            assert_eq!(metrics(&font[..cut], 0), None, "cut at {cut}");
        }
    }
}
