//! The package (zip) reader: bytes that start as a zip does, through `glyph::load` with
//! tight package limits, so zip bombs, odd entries and broken archives are refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spv::glyph::{self, Limits};

fuzz_target!(|data: &[u8]| {
    // Every input is read as a package: the zip signature goes in front when missing.
    let mut bytes = Vec::with_capacity(data.len() + 4);
    if !data.starts_with(b"PK\x03\x04") {
        bytes.extend_from_slice(b"PK\x03\x04");
    }
    bytes.extend_from_slice(data);
    let limits = Limits {
        max_package_uncompressed_bytes: 4 << 20,
        max_package_entries: 64,
        ..Limits::default()
    };
    if let Ok(loaded) = glyph::load(&bytes, &limits) {
        let package = loaded.package.expect("a zip loads as a package");
        let total: usize = package
            .paths()
            .filter_map(|p| package.get(p))
            .map(|b| b.len())
            .sum();
        assert!(total as u64 <= limits.max_package_uncompressed_bytes);
        assert!(package.len() <= limits.max_package_entries);
    }
});
