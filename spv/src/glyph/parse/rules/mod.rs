//! The format's rules on the typed model, shared by the JSON converter (which calls
//! them on each object as soon as it is built) and by [`super::validate`] (which walks
//! a model built by hand). Structural rules (types, required fields, keywords,
//! colours) belong to the converter; ranges, ids, references and limits live here.

mod node;
mod paint;

use std::collections::HashMap;

use indexmap::IndexMap;

use super::jpath::{JsonPath, num, quote};
use super::path_data;
use crate::glyph::{Asset, Limits, Page};
use crate::{Error, ErrorKind};

/// The declared assets of a document.
pub(crate) type Assets = IndexMap<String, Asset>;

/// At most this many errors are collected; the check stops after the last.
pub(crate) const MAX_ERRORS: usize = 100;
const MAX_WARNINGS: usize = 100;

/// The allowed values of a number.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Range {
    Finite,
    NonNegative,
    Positive,
    Unit,
    PageSide,
    AtLeastOne,
}

impl Range {
    fn contains(self, v: f64) -> bool {
        match self {
            Range::Finite => v.is_finite(),
            Range::NonNegative => v.is_finite() && v >= 0.0,
            Range::Positive => v.is_finite() && v > 0.0,
            Range::Unit => (0.0..=1.0).contains(&v),
            Range::PageSide => v > 0.0 && v <= 16384.0,
            Range::AtLeastOne => v.is_finite() && v >= 1.0,
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Range::Finite => "a finite number",
            Range::NonNegative => "a number >= 0",
            Range::Positive => "a number > 0",
            Range::Unit => "a number from 0 to 1",
            Range::PageSide => "a number > 0 and <= 16384",
            Range::AtLeastOne => "a number >= 1",
        }
    }
}

/// Collects errors and warnings, and the document-wide state the rules need (ids
/// seen, node and path-command counts).
#[derive(Debug)]
pub(crate) struct Checker<'l> {
    pub(crate) limits: &'l Limits,
    pub(crate) errors: Vec<Error>,
    pub(crate) warnings: Vec<String>,
    page_ids: HashMap<String, String>,
    node_ids: HashMap<String, String>,
    nodes: usize,
    path_cost: usize,
    max_errors: usize,
    stopped: bool,
}

impl<'l> Checker<'l> {
    /// A checker that stops after `max_errors` errors (1 to fail fast).
    pub(crate) fn new(limits: &'l Limits, max_errors: usize) -> Self {
        Checker {
            limits,
            errors: Vec::new(),
            warnings: Vec::new(),
            page_ids: HashMap::new(),
            node_ids: HashMap::new(),
            nodes: 0,
            path_cost: 0,
            max_errors: max_errors.clamp(1, MAX_ERRORS),
            stopped: false,
        }
    }

    /// Whether checking should stop (a limit was exceeded or too many errors).
    pub(crate) fn stopped(&self) -> bool {
        self.stopped
    }

    pub(crate) fn push(&mut self, error: Error) {
        if self.stopped {
            return;
        }
        self.errors.push(error);
        if self.errors.len() >= self.max_errors {
            self.stopped = true;
        }
    }

    pub(crate) fn error(&mut self, path: &JsonPath<'_>, message: impl Into<String>) {
        self.push(Error::invalid_document(path.to_string(), message));
    }

    /// A limit error; limits guard resources, so checking stops after one.
    pub(crate) fn limit(&mut self, path: &JsonPath<'_>, message: impl Into<String>) {
        self.push(Error::new(ErrorKind::LimitExceeded, message).at(path.to_string()));
        self.stopped = true;
    }

    pub(crate) fn warn(&mut self, path: &JsonPath<'_>, message: impl std::fmt::Display) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(format!("{path}: {message}"));
        }
    }

    pub(crate) fn number(&mut self, path: &JsonPath<'_>, value: f64, range: Range) {
        if !range.contains(value) {
            self.error(path, format!("{} is not {}", num(value), range.expected()));
        }
    }

    /// `format` must be `glyph`.
    pub(crate) fn format(&mut self, path: &JsonPath<'_>, format: &str) -> bool {
        let ok = format == "glyph";
        if !ok {
            let message = format!(
                "{} is not a supported format (expected \"glyph\")",
                quote(format)
            );
            self.error(path, message);
        }
        ok
    }

    /// `version` must be 1; a newer one is [`ErrorKind::UnsupportedVersion`].
    pub(crate) fn version(&mut self, path: &JsonPath<'_>, version: u64) -> bool {
        match version {
            1 => return true,
            0 => self.error(path, "0 is not a valid version (expected 1)"),
            v => self.push(
                Error::new(
                    ErrorKind::UnsupportedVersion,
                    format!("version {v} is not supported (this build reads version 1)"),
                )
                .at(path.to_string()),
            ),
        }
        false
    }

    /// At least one page, at most the limit.
    pub(crate) fn page_count(&mut self, path: &JsonPath<'_>, count: usize) {
        if count == 0 {
            self.error(path, "a document needs at least one page");
        } else if count > self.limits.max_pages {
            let max = self.limits.max_pages;
            self.limit(
                path,
                format!("{count} pages are more than the limit of {max}"),
            );
        }
    }

    pub(crate) fn page(&mut self, page: &Page, path: &JsonPath<'_>) {
        if let Some(id) = &page.id {
            unique(self, Ids::Pages, id, path);
        }
        self.number(&path.key("width"), page.width, Range::PageSide);
        self.number(&path.key("height"), page.height, Range::PageSide);
        if let Some(background) = &page.background {
            self.paint(background, &path.key("background"));
        }
    }

    /// Checks path data and counts it against the limit; `true` when it is fine to
    /// build its outline.
    pub(crate) fn path_data(&mut self, d: &str, path: &JsonPath<'_>) -> bool {
        match path_data::measure(d) {
            Err(message) => {
                self.error(path, message);
                false
            }
            Ok(cost) => {
                self.path_cost = self.path_cost.saturating_add(cost);
                let max = self.limits.max_path_commands;
                if self.path_cost > max {
                    let message = format!(
                        "the document has more than {max} path commands (the limit; an arc counts as the curves it becomes)"
                    );
                    self.limit(path, message);
                }
                !self.stopped
            }
        }
    }
}

/// Which ids must be unique together.
#[derive(Clone, Copy)]
enum Ids {
    Pages,
    Nodes,
}

/// Records `id` at `path`, or reports it as a duplicate.
fn unique(c: &mut Checker<'_>, which: Ids, id: &str, path: &JsonPath<'_>) {
    let ids = match which {
        Ids::Pages => &mut c.page_ids,
        Ids::Nodes => &mut c.node_ids,
    };
    if let Some(first) = ids.get(id) {
        let message = format!("duplicate id {} (also used at {first})", quote(id));
        c.error(&path.key("id"), message);
    } else {
        ids.insert(id.to_owned(), path.to_string());
    }
}
