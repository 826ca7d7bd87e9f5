//! No input makes the reader panic: property tests over arbitrary bytes and over
//! mutated documents, and a seeded mutation loop over a valid document and package.

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::glyph::{self, Limits, Package};

/// A valid document that uses most of the format.
fn sample() -> Value {
    json!({
        "format": "glyph", "version": 1, "title": "t",
        "assets": {
            "logo": { "type": "image", "src": "assets/logo.png" },
            "font": { "type": "font", "src": "data:font/ttf;base64,AAEAAA==" },
        },
        "pages": [{ "id": "p", "width": 64, "height": 32, "background": "#fff", "layers": [
            { "type": "rect", "id": "r", "x": 1, "y": 1, "width": 10, "height": 5, "radius": [1, 2, 3, 4],
              "fill": { "type": "linear", "from": [0, 0], "to": [10, 0], "stops": [[0, "#f00"], [1, "#00f"]] },
              "stroke": { "paint": "#000", "width": 1, "dash": [2, 1] } },
            { "type": "group", "opacity": 0.5, "blend": "multiply", "transform": [1, 0, 0, 1, 2, 2],
              "clip": { "type": "ellipse", "cx": 5, "cy": 5, "rx": 5, "ry": 5 },
              "children": [
                { "type": "path", "d": "M0 0 L10 10 A3 3 0 0 1 0 10 Z", "fillRule": "evenodd", "fill": "#0f08" },
                { "type": "text", "x": 0, "y": 0, "text": "hi", "size": 9, "font": "font", "weight": 700 },
                { "type": "image", "asset": "logo", "x": 0, "y": 0, "width": 8, "height": 8, "fit": "cover" },
              ] },
        ] }],
    })
}

fn sample_bytes() -> Vec<u8> {
    serde_json::to_vec(&sample()).unwrap()
}

fn sample_package() -> Vec<u8> {
    Package::write(
        &sample_bytes(),
        &[("assets/logo.png", b"\x89PNG not really")],
    )
    .unwrap()
}

/// Reads `bytes` every way there is; none may panic. A document that loads must pass
/// `validate` and survive a round trip.
fn exercise(bytes: &[u8], limits: &Limits) {
    let report = glyph::check(bytes, limits);
    match glyph::load(bytes, limits) {
        Ok(loaded) => {
            assert!(
                report.is_ok(),
                "check and load disagree: {:?}",
                report.errors
            );
            assert!(glyph::validate(&loaded.document, limits).is_ok());
            let again = glyph::parse_json(&loaded.document.to_vec(), limits).unwrap();
            assert_eq!(again, loaded.document);
        }
        Err(_) => assert!(!report.is_ok(), "load failed but check found nothing"),
    }
}

/// Values a mutation puts somewhere in a document.
fn interesting(choice: usize) -> Value {
    let pool = [
        Value::Null,
        json!(true),
        json!(-1),
        json!(0),
        json!(0.5),
        json!(1e308),
        json!(16385),
        json!(900),
        json!(""),
        json!("#ggg"),
        json!("#12345678"),
        json!("M0 0 A1e30 1e-30 0 1 1 1 1"),
        json!("../../etc/passwd"),
        json!("sha256:00"),
        json!([]),
        json!([1, 2]),
        json!([0, 0, 0, 0, 0, 0]),
        json!({}),
        json!({ "type": "group", "children": [] }),
        json!({ "type": "linear", "from": [0, 0], "to": [1, 1], "stops": [[1, "#000"], [0, "#fff"]] }),
        json!("logo"),
        json!("font"),
        json!("group"),
        json!("path"),
    ];
    pool[choice % pool.len()].clone()
}

/// Every place in `value` (as a pointer), the root excluded.
fn places(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let here = format!("{at}/{i}");
                out.push(here.clone());
                places(item, here, out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let here = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                out.push(here.clone());
                places(item, here, out);
            }
        }
        _ => {}
    }
}

/// Replaces, removes or adds something at a place chosen by `where_`.
fn mutate(doc: &mut Value, where_: usize, what: usize) {
    let mut all = Vec::new();
    places(doc, String::new(), &mut all);
    let Some(place) = all.get(where_ % all.len().max(1)).cloned() else {
        return;
    };
    let (parent, last) = place.rsplit_once('/').unwrap_or(("", &place));
    match (what % 4, doc.pointer_mut(parent)) {
        (0, Some(Value::Object(map))) => {
            map.shift_remove(&last.replace("~1", "/").replace("~0", "~"));
        }
        (1, Some(Value::Array(items))) if !items.is_empty() => {
            let copy = items[where_ % items.len()].clone();
            items.push(copy);
        }
        (2, Some(Value::Object(map))) => {
            map.insert(
                ["type", "id", "stops", "clip", "asset", "font", "d"][what % 7].into(),
                interesting(what / 4),
            );
        }
        _ => {
            if let Some(slot) = doc.pointer_mut(&place) {
                *slot = interesting(what / 4);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        exercise(&bytes, &Limits::default());
        let mut zipped = b"PK\x03\x04".to_vec();
        zipped.extend_from_slice(&bytes);
        exercise(&zipped, &Limits::default());
    }

    #[test]
    fn mutated_documents_never_panic(edits in prop::collection::vec((any::<usize>(), any::<usize>()), 1..8)) {
        let mut doc = sample();
        for (where_, what) in edits {
            mutate(&mut doc, where_, what);
        }
        let small = Limits { max_nodes: 6, max_path_commands: 40, max_group_depth: 2, ..Limits::default() };
        let bytes = serde_json::to_vec(&doc).unwrap();
        exercise(&bytes, &Limits::default());
        exercise(&bytes, &small);
    }
}

/// A tiny deterministic generator (xorshift64*), so the loop below is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate_bytes(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len());
        match rng.below(5) {
            0 if !bytes.is_empty() => bytes[at] ^= 1 << rng.below(8),
            1 if !bytes.is_empty() => bytes[at] = rng.next() as u8,
            2 => {
                const PUNCTUATION: &[u8] = b"{}[]\",:0-9e.#\\";
                bytes.insert(
                    at.min(bytes.len()),
                    PUNCTUATION[rng.below(PUNCTUATION.len())],
                );
            }
            3 if !bytes.is_empty() => {
                bytes.remove(at);
            }
            _ => bytes.truncate(at),
        }
    }
    bytes
}

#[test]
fn seeded_mutations_of_a_document_and_a_package_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let limits = Limits::default();
    let document = sample_bytes();
    let package = sample_package();
    exercise(&document, &limits);
    exercise(&package, &limits);
    assert!(glyph::load(&package, &limits).is_ok());
    let mut loaded = 0;
    for _ in 0..3000 {
        let bytes = mutate_bytes(&mut rng, &document);
        exercise(&bytes, &limits);
        loaded += usize::from(glyph::load(&bytes, &limits).is_ok());
    }
    for _ in 0..2000 {
        exercise(&mutate_bytes(&mut rng, &package), &limits);
    }
    // The mutations must mostly break documents, yet not all: both paths are exercised.
    assert!(
        loaded > 0 && loaded < 3000,
        "{loaded} of 3000 mutated documents loaded"
    );
}
