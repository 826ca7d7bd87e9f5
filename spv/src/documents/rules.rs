//! The pure rules of the documents service: who may read and write, what a title and
//! tags may be, how a merge patch applies. No I/O, no Tokio.

use serde_json::Value;

use crate::api::{Document, PageSummary, Principal, Scope};
use crate::glyph::Loaded;
use crate::{Error, ErrorKind, Result};

/// The longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 256;
/// The most tags of a document.
pub const MAX_TAGS: usize = 32;
/// The longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;

/// Whether `principal` may read `doc`: public documents anyone, others the owner and
/// admins. (Groups and shares will extend this one place.)
pub(crate) fn can_read(principal: Option<&Principal>, doc: &Document) -> bool {
    doc.public || principal.is_some_and(|p| can_write(p, doc))
}

/// Whether `principal` may change `doc`: the owner and admins only.
pub(crate) fn can_write(principal: &Principal, doc: &Document) -> bool {
    !principal.is_anonymous() && (principal.is_admin || principal.user_id == doc.owner_id)
}

/// The error for a document the caller may not see: the same as for a missing one, so
/// its existence is not revealed.
pub(crate) fn not_found(id: uuid::Uuid) -> Error {
    Error::new(ErrorKind::NotFound, format!("document {id} was not found"))
}

/// Checks that the caller may write at all (signed in, `documents:write`).
pub(crate) fn require_writer(principal: &Principal) -> Result<()> {
    principal.require(Scope::DocumentsWrite)
}

/// Checks that `principal` may change `doc` (a document it may not even read is "not
/// found") and that `if_match` holds.
pub(crate) fn check_write(
    principal: &Principal,
    doc: &Document,
    if_match: Option<&str>,
) -> Result<()> {
    require_writer(principal)?;
    if !can_write(principal, doc) {
        if !can_read(Some(principal), doc) {
            return Err(not_found(doc.id));
        }
        return Err(Error::new(
            ErrorKind::Forbidden,
            format!(
                "document {} is public but only its owner may change it",
                doc.id
            ),
        ));
    }
    check_if_match(doc, if_match)
}

/// [`ErrorKind::PreconditionFailed`] when `if_match` is given and does not match.
pub(crate) fn check_if_match(doc: &Document, if_match: Option<&str>) -> Result<()> {
    match if_match {
        Some(value) if !doc.matches(value) => Err(Error::new(
            ErrorKind::PreconditionFailed,
            format!(
                "document {} has changed: If-Match {} does not match its current ETag {}",
                doc.id,
                value.trim(),
                doc.etag()
            ),
        )),
        _ => Ok(()),
    }
}

/// A checked title: not blank, at most [`MAX_TITLE_CHARS`] characters.
pub(crate) fn check_title(title: &str) -> Result<String> {
    let trimmed = title.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid_request("title is empty: expected some text"));
    }
    if trimmed.chars().count() > MAX_TITLE_CHARS {
        return Err(Error::invalid_request(format!(
            "title is too long: at most {MAX_TITLE_CHARS} characters"
        )));
    }
    Ok(trimmed.to_string())
}

/// Checked tags: trimmed, not blank, at most [`MAX_TAG_CHARS`] characters each and
/// [`MAX_TAGS`] in all, duplicates dropped (first kept).
pub(crate) fn check_tags(tags: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for (i, tag) in tags.iter().enumerate() {
        let tag = tag.trim();
        if tag.is_empty() || tag.chars().count() > MAX_TAG_CHARS {
            return Err(Error::invalid_request(format!(
                "tags[{i}] \"{tag}\" is not a valid tag: expected 1 to {MAX_TAG_CHARS} characters"
            )));
        }
        if !out.iter().any(|t| t == tag) {
            out.push(tag.to_string());
        }
    }
    if out.len() > MAX_TAGS {
        return Err(Error::invalid_request(format!(
            "{} tags are too many: at most {MAX_TAGS}",
            out.len()
        )));
    }
    Ok(out)
}

/// The default title of a new document: its own `title`, else "Untitled".
pub(crate) fn default_title(loaded: &Loaded) -> String {
    let title = loaded.document.title.as_deref().unwrap_or_default().trim();
    if title.is_empty() {
        "Untitled".to_string()
    } else {
        title.chars().take(MAX_TITLE_CHARS).collect()
    }
}

/// The page summaries of a parsed document.
pub(crate) fn page_summaries(document: &crate::glyph::Document) -> Vec<PageSummary> {
    document
        .pages
        .iter()
        .map(|page| PageSummary {
            id: page.id.clone(),
            name: page.name.clone(),
            width: page.width,
            height: page.height,
        })
        .collect()
}

/// Applies an RFC 7396 merge patch of `title`, `tags` and `public` to `doc`; any other
/// member is refused. `null` removes: tags become `[]`, `public` becomes `false`, and a
/// title cannot be removed.
pub(crate) fn apply_patch(doc: &mut Document, patch: &Value) -> Result<()> {
    let Value::Object(members) = patch else {
        return Err(Error::invalid_request(
            "the patch is not a JSON object: expected {\"title\", \"tags\", \"public\"}",
        ));
    };
    for (key, value) in members {
        match (key.as_str(), value) {
            ("title", Value::String(title)) => doc.title = check_title(title)?,
            ("title", Value::Null) => {
                return Err(Error::invalid_request(
                    "title cannot be removed: expected a string",
                ));
            }
            ("tags", Value::Null) => doc.tags = Vec::new(),
            ("tags", Value::Array(items)) => {
                let tags = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| match item {
                        Value::String(s) => Ok(s.clone()),
                        other => Err(Error::invalid_request(format!(
                            "tags[{i}] is {other}: expected a string"
                        ))),
                    })
                    .collect::<Result<Vec<_>>>()?;
                doc.tags = check_tags(&tags)?;
            }
            ("public", Value::Null) => doc.public = false,
            ("public", Value::Bool(public)) => doc.public = *public,
            ("title" | "tags" | "public", other) => {
                let expected = match key.as_str() {
                    "title" => "a string",
                    "tags" => "an array of strings or null",
                    _ => "true, false or null",
                };
                return Err(Error::invalid_request(format!(
                    "{key} is {other}: expected {expected}"
                )));
            }
            (unknown, _) => {
                return Err(Error::invalid_request(format!(
                    "unknown member \"{unknown}\" in the patch: expected title, tags or public"
                )));
            }
        }
    }
    Ok(())
}

/// A non-blank filter value, trimmed.
pub(crate) fn filter_text(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_changes_only_what_it_names() {
        let mut doc = Document::example();
        apply_patch(&mut doc, &json!({"title": " New ", "public": true})).unwrap();
        assert_eq!((doc.title.as_str(), doc.public), ("New", true));
        assert_eq!(doc.tags, vec!["print".to_string()], "tags untouched");
        apply_patch(&mut doc, &json!({"tags": ["a", "b", "a"]})).unwrap();
        assert_eq!(doc.tags, vec!["a".to_string(), "b".to_string()]);
        apply_patch(&mut doc, &json!({"tags": null, "public": null})).unwrap();
        assert!(doc.tags.is_empty() && !doc.public);
    }

    #[test]
    fn bad_patches_are_refused_with_the_member_named() {
        let mut doc = Document::example();
        let cases = [
            (json!({"owner": "x"}), "unknown member \"owner\""),
            (json!({"title": null}), "title cannot be removed"),
            (json!({"title": ""}), "title is empty"),
            (json!({"tags": [1]}), "tags[0] is 1"),
            (json!({"public": "yes"}), "public is \"yes\""),
            (json!([1]), "not a JSON object"),
        ];
        for (patch, expected) in cases {
            let err = apply_patch(&mut doc, &patch).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidRequest);
            assert!(err.to_string().contains(expected), "{err} for {patch}");
        }
        assert_eq!(doc, Document::example(), "nothing changed");
    }

    #[test]
    fn tags_and_titles_are_checked() {
        assert!(check_tags(&vec!["t".to_string(); 1]).is_ok());
        assert!(check_tags(&[" ".to_string()]).is_err());
        let many: Vec<String> = (0..=MAX_TAGS).map(|i| i.to_string()).collect();
        assert!(check_tags(&many).is_err());
        assert!(check_title(&"x".repeat(MAX_TITLE_CHARS + 1)).is_err());
    }
}
