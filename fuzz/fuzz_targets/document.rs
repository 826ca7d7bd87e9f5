//! The document parser: any bytes through `glyph::load` (JSON or package) and
//! `glyph::check` (every error at once). Either answers or refuses; never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spv::glyph::{self, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let loaded = glyph::load(data, &limits);
    let report = glyph::check(data, &limits);
    // The two readers agree on whether the document is acceptable.
    assert_eq!(loaded.is_ok(), report.is_ok(), "load and check disagree");
    if let Ok(loaded) = loaded {
        // A parsed document passes validation again, and survives a JSON round trip.
        glyph::validate(&loaded.document, &limits).expect("a loaded document validates");
        let json = serde_json::to_vec(&loaded.document).expect("a document serialises");
        glyph::parse_json(&json, &limits).expect("a serialised document parses again");
    }
});
