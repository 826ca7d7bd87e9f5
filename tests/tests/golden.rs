//! Golden images: every page of every sample in `examples/docs/`, rendered at 256 px by
//! spv's CPU renderer, against the references in `tests/golden/`.
//!
//! Tolerance (see `spv_tests::golden`): a pixel differs when a premultiplied channel
//! differs by more than 2; a page fails when more than 0.5% of its pixels differ or the
//! mean absolute difference is over 0.5. Failing renders and diff images go to
//! `test-output/golden/`. `SPV_BLESS=1 cargo test -p spv-tests --test golden` rewrites
//! the references; look at them before committing.

use spv_tests::{GoldenCheck, check_golden, render_spv, samples};

/// The thumbnail size of the references.
const SIZE: u32 = 256;

#[test]
fn every_sample_page_matches_its_golden_image() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for sample in samples() {
        for page in 0..sample.page_count() {
            let key = sample.page_key(page);
            let rendered = match render_spv(&sample.loaded, page, SIZE) {
                Ok(image) => image,
                Err(e) => {
                    failures.push(format!("{key}: spv failed to render: {e}"));
                    continue;
                }
            };
            assert_eq!(
                rendered.width.max(rendered.height),
                SIZE,
                "{key}: the longer side is the thumbnail size"
            );
            match check_golden(&key, &rendered) {
                Ok(GoldenCheck::Matched(_) | GoldenCheck::Blessed) => checked += 1,
                Err(message) => failures.push(message),
            }
        }
    }
    assert!(checked >= 12, "only {checked} sample pages were checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
