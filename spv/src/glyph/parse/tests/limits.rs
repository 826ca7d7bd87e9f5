//! Each document limit, exceeded with small `Limits` values.

use serde_json::{Value, json};

use super::{doc, errors_with};
use crate::ErrorKind;
use crate::glyph::{self, Limits};

fn limits(change: impl FnOnce(&mut Limits)) -> Limits {
    let mut limits = Limits::default();
    change(&mut limits);
    limits
}

fn rect() -> Value {
    json!({ "type": "rect", "x": 0, "y": 0, "width": 1, "height": 1 })
}

/// `load`'s error for `doc`, which must be a limit error.
#[track_caller]
fn limit_error(doc: &Value, limits: &Limits) -> String {
    let bytes = serde_json::to_vec(doc).unwrap();
    let err = glyph::load(&bytes, limits).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
    // The document in memory (live edits) meets the same limit, with the same words but
    // for the nesting error's line and column.
    let in_memory = glyph::parse_value(doc.clone(), limits).unwrap_err();
    assert_eq!(in_memory.kind(), ErrorKind::LimitExceeded, "{in_memory}");
    if let Some((start, _)) = err.to_string().split_once(" at line ") {
        assert!(in_memory.to_string().starts_with(start), "{in_memory}");
    } else {
        assert_eq!(in_memory.to_string(), err.to_string());
    }
    // A limit stops the check: it is the last error reported.
    let report = glyph::check(&bytes, limits);
    assert_eq!(
        report.errors.last().map(|e| e.kind()),
        Some(ErrorKind::LimitExceeded)
    );
    err.to_string()
}

#[test]
fn json_size() {
    let d = doc(json!([]));
    let size = serde_json::to_vec(&d).unwrap().len() as u64;
    assert!(errors_with(&d, &limits(|l| l.max_json_bytes = size)).is_empty());
    let message = limit_error(&d, &limits(|l| l.max_json_bytes = size - 1));
    assert_eq!(
        message,
        format!(
            "the document JSON is {size} bytes, more than the limit of {} bytes",
            size - 1
        )
    );
}

#[test]
fn pages() {
    let mut d = doc(json!([]));
    let page = d["pages"][0].clone();
    d["pages"] = json!([page.clone(), page.clone(), page]);
    assert!(errors_with(&d, &limits(|l| l.max_pages = 3)).is_empty());
    assert_eq!(
        limit_error(&d, &limits(|l| l.max_pages = 2)),
        "pages: 3 pages are more than the limit of 2"
    );
}

#[test]
fn nodes_clips_included() {
    let d = doc(json!([rect(), { "type": "group", "children": [rect()], "clip": rect() }]));
    assert!(errors_with(&d, &limits(|l| l.max_nodes = 4)).is_empty());
    assert_eq!(
        limit_error(&d, &limits(|l| l.max_nodes = 3)),
        "pages[0].layers[1].children[0]: the document has more than 3 nodes (the limit)"
    );
    // Nodes are counted across pages.
    let mut two = doc(json!([rect(), rect()]));
    let page = two["pages"][0].clone();
    two["pages"].as_array_mut().unwrap().push(page);
    assert_eq!(
        limit_error(&two, &limits(|l| l.max_nodes = 3)),
        "pages[1].layers[1]: the document has more than 3 nodes (the limit)"
    );
}

#[test]
fn group_depth() {
    let nest = |depth: usize| {
        let mut node = rect();
        for _ in 0..depth {
            node = json!({ "type": "group", "children": [node] });
        }
        doc(json!([node]))
    };
    assert!(errors_with(&nest(3), &limits(|l| l.max_group_depth = 3)).is_empty());
    assert_eq!(
        limit_error(&nest(4), &limits(|l| l.max_group_depth = 3)),
        "pages[0].layers[0].children[0].children[0].children[0]: groups are nested more than 3 deep (the limit)"
    );
}

#[test]
fn json_nesting_far_past_the_group_limit() {
    // Deep arrays anywhere (here in an unknown field) are refused before parsing, so the
    // recursive parser never meets them.
    let deep = format!(
        r#"{{"format":"glyph","version":1,"x":{}{},"pages":[]}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let err = glyph::load(deep.as_bytes(), &Limits::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded);
    assert_eq!(
        err.to_string(),
        "the JSON nests deeper than 192 levels at line 1 column 226 (groups may nest 64 deep)"
    );
    // Brackets inside strings do not count.
    let quoted = format!(
        r#"{{"format":"glyph","version":1,"x":"{}","pages":[{{"width":1,"height":1,"layers":[]}}]}}"#,
        "[".repeat(1000)
    );
    assert!(glyph::load(quoted.as_bytes(), &Limits::default()).is_ok());
}

#[test]
fn path_commands_across_the_document() {
    let path = |d: &str| json!({ "type": "path", "d": d });
    let d = doc(json!([path("M0 0 L1 1 L2 2"), path("M0 0 L1 1 Z")]));
    assert!(errors_with(&d, &limits(|l| l.max_path_commands = 6)).is_empty());
    assert_eq!(
        limit_error(&d, &limits(|l| l.max_path_commands = 5)),
        "pages[0].layers[1].d: the document has more than 5 path commands (the limit; an arc counts as the curves it becomes)"
    );
    // Clip paths count too.
    let clipped =
        doc(json!([{ "type": "group", "children": [], "clip": path("M0 0 L1 1 L2 2 Z") }]));
    assert!(
        limit_error(&clipped, &limits(|l| l.max_path_commands = 3))
            .starts_with("pages[0].layers[0].clip.d: ")
    );
}

#[test]
fn a_huge_arc_is_refused() {
    let d = doc(json!([{ "type": "path", "d": "M0 0 A1e25 1e-25 0 1 1 1 1" }]));
    // Without the up-front count this would expand to ~1e33 curves and never return.
    let err = limit_error(&d, &Limits::default());
    assert!(err.contains("path commands"), "{err}");
}

#[test]
fn the_deepest_json_allowed_fits_on_a_test_threads_stack() {
    // With the group limit raised as far as it goes, the JSON depth cap (512 levels)
    // still bounds every recursion: parsing, checking, serialising and dropping.
    let lax = limits(|l| l.max_group_depth = usize::MAX);
    let nest = |depth: usize| {
        let mut node = rect();
        for _ in 0..depth {
            node = json!({ "type": "group", "children": [node] });
        }
        serde_json::to_vec(&doc(json!([node]))).unwrap()
    };
    let loaded = glyph::load(&nest(250), &lax).unwrap();
    assert!(glyph::validate(&loaded.document, &lax).is_ok());
    assert_eq!(
        glyph::parse_json(&loaded.document.to_vec(), &lax).unwrap(),
        loaded.document
    );
    drop(loaded);
    let err = glyph::load(&nest(300), &lax).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded);
    assert!(
        err.message()
            .starts_with("the JSON nests deeper than 512 levels"),
        "{err}"
    );
}
