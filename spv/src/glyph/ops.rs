//! The operations of live editing (`../shared/live-protocol.md`) and [`LiveDoc`], a
//! document held as pages and nodes addressed by id, which applies them.
//!
//! Pure and synchronous: the live service (`spv::live`, feature `store`) orders pushes
//! and stores them; the documents repository replays the stored ones onto a document's
//! content; `spv-client` applies the server's changes to its copy. All three run this
//! one implementation, so they cannot disagree on what an operation does.
//!
//! ```
//! use spv::glyph::ops::{LiveDoc, Op, Target};
//!
//! let doc = serde_json::json!({"format": "glyph", "version": 1, "pages": [
//!     {"id": "p", "width": 100, "height": 100, "layers": [
//!         {"id": "r", "type": "rect", "width": 10, "height": 10}]}]});
//! let mut next = 0;
//! let (mut live, assigned) = LiveDoc::from_value(doc, &mut || { next += 1; format!("n{next}") }).unwrap();
//! assert!(!assigned);
//! let op: Op = serde_json::from_value(serde_json::json!(
//!     {"op": "set", "target": {"node": "r"}, "key": "x", "value": 40})).unwrap();
//! assert_eq!(op, Op::Set { target: Target::Node("r".into()), key: "x".into(), value: 40.into() });
//! live.apply(&[op], None).unwrap();
//! assert_eq!(live.to_value()["pages"][0]["layers"][0]["x"], 40);
//! ```

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The most operations of one push.
pub const MAX_OPS: usize = 1000;
/// The longest id of a page or node, in characters.
pub const MAX_ID_CHARS: usize = 64;

/// What an operation is about: the document itself, a page or a node, by id.
/// On the wire: `"document"`, `{"page": ID}` or `{"node": ID}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// The document's own properties (`title`, `assets`, ...).
    Document,
    /// A page, by id.
    Page(String),
    /// A node, by id.
    Node(String),
}

/// Where a node goes: a page's `layers` or a group's `children`.
/// On the wire: `{"page": ID}` or `{"node": ID}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Parent {
    /// The layers of a page.
    Page(String),
    /// The children of a group node.
    Node(String),
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum TargetRepr {
    Name(String),
    Page { page: String },
    Node { node: String },
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Target::Document => TargetRepr::Name("document".into()),
            Target::Page(page) => TargetRepr::Page { page: page.clone() },
            Target::Node(node) => TargetRepr::Node { node: node.clone() },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match TargetRepr::deserialize(d)? {
            TargetRepr::Name(name) if name == "document" => Ok(Target::Document),
            TargetRepr::Name(name) => Err(serde::de::Error::custom(format!(
                "target \"{name}\" is not \"document\", {{\"page\": ID}} or {{\"node\": ID}}"
            ))),
            TargetRepr::Page { page } => Ok(Target::Page(page)),
            TargetRepr::Node { node } => Ok(Target::Node(node)),
        }
    }
}

impl Serialize for Parent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Parent::Page(page) => TargetRepr::Page { page: page.clone() },
            Parent::Node(node) => TargetRepr::Node { node: node.clone() },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Parent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match TargetRepr::deserialize(d)? {
            TargetRepr::Page { page } => Ok(Parent::Page(page)),
            TargetRepr::Node { node } => Ok(Parent::Node(node)),
            TargetRepr::Name(name) => Err(serde::de::Error::custom(format!(
                "parent \"{name}\" is not {{\"page\": ID}} or {{\"node\": ID}}"
            ))),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Document => f.write_str("the document"),
            Target::Page(id) => write!(f, "page \"{id}\""),
            Target::Node(id) => write!(f, "node \"{id}\""),
        }
    }
}

impl fmt::Display for Parent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Parent::Page(id) => write!(f, "page \"{id}\""),
            Parent::Node(id) => write!(f, "node \"{id}\""),
        }
    }
}

/// One change of a push (the `op` field names it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", deny_unknown_fields)]
pub enum Op {
    /// Sets one property of `target`; `null` removes it. Values are replaced whole.
    Set {
        /// What is changed.
        target: Target,
        /// The property; never `id`, `type`, `layers`, `children` or `pages`.
        key: String,
        /// The new value; `null` removes the property.
        value: Value,
    },
    /// Inserts a whole node (with its id, children included).
    Insert {
        /// The node.
        node: Value,
        /// Where it goes.
        parent: Parent,
        /// The sibling it follows; `None` (`null`): first.
        #[serde(default)]
        after: Option<String>,
    },
    /// Inserts a whole page (with its id, layers included).
    InsertPage {
        /// The page.
        page: Value,
        /// The page it follows; `None` (`null`): first.
        #[serde(default)]
        after: Option<String>,
    },
    /// Removes a node or a page with everything below it.
    Delete {
        /// What is removed.
        target: Target,
    },
    /// Moves a node, to another parent too.
    Move {
        /// The node.
        target: Target,
        /// Where it goes.
        parent: Parent,
        /// The sibling it follows; `None` (`null`): first.
        #[serde(default)]
        after: Option<String>,
    },
}

/// Why a push was rejected: the protocol's `reject` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RejectCode {
    /// The result would break the format (the detail names the JSON path).
    InvalidDocument,
    /// A target, parent or `after` sibling that does not exist.
    UnknownTarget,
    /// An inserted id is already taken.
    IdTaken,
    /// A move into the node's own subtree.
    Cycle,
    /// The session may not write.
    Forbidden,
    /// Too many operations, or a push too large.
    TooLarge,
    /// An operation that is not one of the protocol's, or is malformed.
    BadOp,
}

impl RejectCode {
    /// Every code, in the order of the protocol's table.
    pub const ALL: [RejectCode; 7] = [
        RejectCode::InvalidDocument,
        RejectCode::UnknownTarget,
        RejectCode::IdTaken,
        RejectCode::Cycle,
        RejectCode::Forbidden,
        RejectCode::TooLarge,
        RejectCode::BadOp,
    ];

    /// The code as the protocol spells it (`unknown-target`).
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::InvalidDocument => "invalid-document",
            RejectCode::UnknownTarget => "unknown-target",
            RejectCode::IdTaken => "id-taken",
            RejectCode::Cycle => "cycle",
            RejectCode::Forbidden => "forbidden",
            RejectCode::TooLarge => "too-large",
            RejectCode::BadOp => "bad-op",
        }
    }
}

impl fmt::Display for RejectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operation that cannot apply: the code and a readable detail naming the operation
/// (`ops[2]: node "r9" does not exist`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    /// The protocol's code.
    pub code: RejectCode,
    /// What was wrong.
    pub detail: String,
}

impl OpError {
    /// An error with `code` and `detail`.
    pub fn new(code: RejectCode, detail: impl Into<String>) -> Self {
        OpError {
            code,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

impl std::error::Error for OpError {}

/// Whether `id` is a valid id of a page or node: 1 to 64 characters of `A-Za-z0-9_-`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Parses the operations of a push: at most [`MAX_OPS`], each one of the protocol's
/// (`bad-op` naming the first that is not, `too-large` past the limit).
pub fn parse_ops(ops: &[Value]) -> Result<Vec<Op>, OpError> {
    if ops.is_empty() {
        return Err(OpError::new(
            RejectCode::BadOp,
            "ops is empty: expected 1 to 1000 operations",
        ));
    }
    if ops.len() > MAX_OPS {
        return Err(OpError::new(
            RejectCode::TooLarge,
            format!("{} operations are too many: at most {MAX_OPS}", ops.len()),
        ));
    }
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            Op::deserialize(op)
                .map_err(|e| OpError::new(RejectCode::BadOp, format!("ops[{i}]: {e}")))
        })
        .collect()
}

/// A check of a whole document after a push (against the format), for
/// [`LiveDoc::apply`].
pub type Check<'a> = &'a dyn Fn(&LiveDoc) -> Result<(), OpError>;

/// A page: its properties (with a `null` where `layers` goes) and its layers' ids.
#[derive(Debug, Clone)]
struct PageEntry {
    id: String,
    props: Map<String, Value>,
    layers: Vec<String>,
}

/// A node: its properties (with a `null` where `children` goes), its children's ids
/// when it has `children` (a group), and its parent.
#[derive(Debug, Clone)]
struct NodeEntry {
    props: Map<String, Value>,
    children: Option<Vec<String>>,
    parent: Parent,
}

/// How to take one applied operation back.
#[derive(Debug)]
enum Undo {
    Set(Target, String, Option<Value>),
    Inserted(String),
    InsertedPage(String),
    Deleted {
        parent: Parent,
        index: usize,
        nodes: Vec<(String, NodeEntry)>,
    },
    DeletedPage {
        index: usize,
        page: PageEntry,
        nodes: Vec<(String, NodeEntry)>,
    },
    Moved {
        id: String,
        parent: Parent,
        index: usize,
    },
}

/// A push applied by [`LiveDoc::apply_undoable`], for [`LiveDoc::revert`].
#[derive(Debug)]
pub struct Applied(Vec<Undo>);

/// A document under live editing: its pages and nodes by id, which [`apply`](Self::apply)
/// changes and [`to_value`](Self::to_value) writes back as the document's JSON (keys in
/// their order; `layers`, `children` and `pages` where they were).
#[derive(Debug, Clone)]
pub struct LiveDoc {
    root: Map<String, Value>,
    pages: Vec<PageEntry>,
    nodes: HashMap<String, NodeEntry, foldhash::fast::RandomState>,
}

impl LiveDoc {
    /// Reads a document's JSON (already valid against the format). Pages and nodes
    /// without an id, or whose id is taken by an earlier one, get one from `new_id`; the
    /// second value says whether any did (then the document must be stored again).
    pub fn from_value(
        value: Value,
        new_id: &mut dyn FnMut() -> String,
    ) -> Result<(LiveDoc, bool), OpError> {
        let Value::Object(mut root) = value else {
            return Err(bad("the document is not a JSON object"));
        };
        let pages = match root.get_mut("pages") {
            Some(pages) => pages.take(),
            None => Value::Array(Vec::new()),
        };
        let Value::Array(pages) = pages else {
            return Err(bad("pages is not an array"));
        };
        let mut doc = LiveDoc {
            root,
            pages: Vec::with_capacity(pages.len()),
            nodes: HashMap::default(),
        };
        doc.root.insert("pages".into(), Value::Null);
        let mut assigned = false;
        for page in pages {
            let Value::Object(mut props) = page else {
                return Err(bad("a page is not a JSON object"));
            };
            let id = match props.get("id").and_then(Value::as_str) {
                Some(id) if !doc.pages.iter().any(|p| p.id == id) => id.to_string(),
                _ => {
                    assigned = true;
                    let id = fresh(new_id, |id| doc.pages.iter().any(|p| p.id == id));
                    props.insert("id".into(), Value::String(id.clone()));
                    id
                }
            };
            let layers = take_list(&mut props, "layers")?.unwrap_or_default();
            let parent = Parent::Page(id.clone());
            let mut ids = Vec::with_capacity(layers.len());
            for node in layers {
                ids.push(doc.add_node(
                    node,
                    parent.clone(),
                    &mut Some(&mut *new_id),
                    &mut assigned,
                )?);
            }
            doc.pages.push(PageEntry {
                id,
                props,
                layers: ids,
            });
        }
        Ok((doc, assigned))
    }

    /// Adds a node and its subtree to the index; with `new_id`, a missing or taken id is
    /// replaced (and `assigned` set), without, it is an error.
    fn add_node(
        &mut self,
        node: Value,
        parent: Parent,
        new_id: &mut Option<&mut dyn FnMut() -> String>,
        assigned: &mut bool,
    ) -> Result<String, OpError> {
        let Value::Object(mut props) = node else {
            return Err(bad("a node is not a JSON object"));
        };
        let id = match props.get("id") {
            Some(Value::String(id)) if !self.nodes.contains_key(id) => id.clone(),
            other => match new_id {
                Some(new_id) => {
                    *assigned = true;
                    let id = fresh(*new_id, |id| self.nodes.contains_key(id));
                    props.insert("id".into(), Value::String(id.clone()));
                    id
                }
                None => {
                    return Err(match other {
                        Some(Value::String(id)) => {
                            OpError::new(RejectCode::IdTaken, format!("node id \"{id}\" is taken"))
                        }
                        _ => bad("every inserted node needs an \"id\" string"),
                    });
                }
            },
        };
        if new_id.is_none() && !valid_id(&id) {
            return Err(bad(format!(
                "node id \"{}\" is not 1 to 64 characters of A-Za-z0-9_-",
                id.chars().take(80).collect::<String>()
            )));
        }
        let children = take_list(&mut props, "children")?;
        // Reserved before the children, so that a child cannot take its parent's id.
        self.nodes.insert(
            id.clone(),
            NodeEntry {
                props: Map::new(),
                children: None,
                parent: parent.clone(),
            },
        );
        let children = match children {
            Some(children) => {
                let mut ids = Vec::with_capacity(children.len());
                for child in children {
                    match self.add_node(child, Parent::Node(id.clone()), new_id, assigned) {
                        Ok(child) => ids.push(child),
                        Err(e) => {
                            self.remove_subtree_ids(&id, &ids);
                            return Err(e);
                        }
                    }
                }
                Some(ids)
            }
            None => None,
        };
        let entry = self.nodes.get_mut(&id).expect("reserved above");
        entry.props = props;
        entry.children = children;
        Ok(id)
    }

    /// Takes back a half-added node: `id` and the subtrees of `children`.
    fn remove_subtree_ids(&mut self, id: &str, children: &[String]) {
        let mut removed = Vec::new();
        for child in children {
            self.take_subtree(child, &mut removed);
        }
        self.nodes.remove(id);
    }

    /// Removes `id` and everything below it from the index, into `out` (parents first).
    fn take_subtree(&mut self, id: &str, out: &mut Vec<(String, NodeEntry)>) {
        let Some(entry) = self.nodes.remove(id) else {
            return;
        };
        let children = entry.children.clone().unwrap_or_default();
        out.push((id.to_string(), entry));
        for child in &children {
            self.take_subtree(child, out);
        }
    }

    /// How many nodes the document has.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The ids of the pages, in order.
    pub fn page_ids(&self) -> impl Iterator<Item = &str> {
        self.pages.iter().map(|p| p.id.as_str())
    }

    /// Whether a node with this id exists.
    pub fn has_node(&self, id: &str) -> bool {
        self.nodes.contains_key(id)
    }

    /// The ids of the nodes, in no particular order.
    pub fn node_ids(&self) -> impl Iterator<Item = &str> {
        self.nodes.keys().map(String::as_str)
    }

    /// The properties of a node (without `children`).
    pub fn node(&self, id: &str) -> Option<&Map<String, Value>> {
        self.nodes.get(id).map(|n| &n.props)
    }

    /// The document's JSON.
    pub fn to_value(&self) -> Value {
        let mut root = self.root.clone();
        let pages = self
            .pages
            .iter()
            .map(|page| {
                let mut props = page.props.clone();
                props.insert(
                    "layers".into(),
                    Value::Array(self.list_values(&page.layers)),
                );
                Value::Object(props)
            })
            .collect();
        root.insert("pages".into(), Value::Array(pages));
        Value::Object(root)
    }

    fn list_values(&self, ids: &[String]) -> Vec<Value> {
        ids.iter().map(|id| self.node_value(id)).collect()
    }

    fn node_value(&self, id: &str) -> Value {
        let Some(entry) = self.nodes.get(id) else {
            return Value::Null;
        };
        let mut props = entry.props.clone();
        if let Some(children) = &entry.children {
            props.insert("children".into(), Value::Array(self.list_values(children)));
        }
        Value::Object(props)
    }

    /// Applies `ops` in order, all or nothing: on the first that fails, those before it
    /// are taken back and the error names it (`ops[3]: ...`). With `check`, the
    /// resulting document is checked too (e.g. against the format), and taken back when
    /// the check fails.
    pub fn apply(&mut self, ops: &[Op], check: Option<Check<'_>>) -> Result<(), OpError> {
        self.apply_undoable(ops, check).map(drop)
    }

    /// [`apply`](Self::apply), keeping what [`revert`](Self::revert) needs to take the
    /// push back later (pushes are reverted in the reverse order they were applied).
    pub fn apply_undoable(
        &mut self,
        ops: &[Op],
        check: Option<Check<'_>>,
    ) -> Result<Applied, OpError> {
        let mut undo = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            if let Err(mut e) = self.apply_one(op, &mut undo) {
                self.undo(undo);
                e.detail = format!("ops[{i}]: {}", e.detail);
                return Err(e);
            }
        }
        if let Some(check) = check
            && let Err(e) = check(self)
        {
            self.undo(undo);
            return Err(e);
        }
        Ok(Applied(undo))
    }

    /// Takes back a push applied with [`apply_undoable`](Self::apply_undoable); those
    /// applied after it must be reverted first.
    pub fn revert(&mut self, applied: Applied) {
        self.undo(applied.0);
    }

    fn undo(&mut self, undo: Vec<Undo>) {
        for step in undo.into_iter().rev() {
            match step {
                Undo::Set(target, key, old) => {
                    if let Some(props) = self.props_mut(&target) {
                        match old {
                            Some(old) => {
                                props.insert(key, old);
                            }
                            None => {
                                props.shift_remove(&key);
                            }
                        }
                    }
                }
                Undo::Inserted(id) => {
                    if let Some(parent) = self.nodes.get(&id).map(|n| n.parent.clone()) {
                        if let Some(list) = self.list_mut(&parent) {
                            list.retain(|c| *c != id);
                        }
                        self.take_subtree(&id, &mut Vec::new());
                    }
                }
                Undo::InsertedPage(id) => {
                    if let Some(index) = self.pages.iter().position(|p| p.id == id) {
                        let page = self.pages.remove(index);
                        for layer in &page.layers {
                            self.take_subtree(layer, &mut Vec::new());
                        }
                    }
                }
                Undo::Deleted {
                    parent,
                    index,
                    nodes,
                } => {
                    let id = nodes.first().map(|(id, _)| id.clone());
                    self.nodes.extend(nodes);
                    if let (Some(id), Some(list)) = (id, self.list_mut(&parent)) {
                        list.insert(index.min(list.len()), id);
                    }
                }
                Undo::DeletedPage { index, page, nodes } => {
                    self.nodes.extend(nodes);
                    let index = index.min(self.pages.len());
                    self.pages.insert(index, page);
                }
                Undo::Moved { id, parent, index } => {
                    if let Some(current) = self.nodes.get(&id).map(|n| n.parent.clone())
                        && let Some(list) = self.list_mut(&current)
                    {
                        list.retain(|c| *c != id);
                    }
                    if let Some(list) = self.list_mut(&parent) {
                        list.insert(index.min(list.len()), id.clone());
                    }
                    if let Some(node) = self.nodes.get_mut(&id) {
                        node.parent = parent;
                    }
                }
            }
        }
    }

    fn props_mut(&mut self, target: &Target) -> Option<&mut Map<String, Value>> {
        match target {
            Target::Document => Some(&mut self.root),
            Target::Page(id) => self
                .pages
                .iter_mut()
                .find(|p| p.id == *id)
                .map(|p| &mut p.props),
            Target::Node(id) => self.nodes.get_mut(id).map(|n| &mut n.props),
        }
    }

    fn list_mut(&mut self, parent: &Parent) -> Option<&mut Vec<String>> {
        match parent {
            Parent::Page(id) => self
                .pages
                .iter_mut()
                .find(|p| p.id == *id)
                .map(|p| &mut p.layers),
            Parent::Node(id) => self.nodes.get_mut(id).and_then(|n| n.children.as_mut()),
        }
    }

    /// The list a parent holds, or why it cannot hold nodes.
    fn check_parent(&self, parent: &Parent) -> Result<(), OpError> {
        match parent {
            Parent::Page(id) if self.pages.iter().any(|p| p.id == *id) => Ok(()),
            Parent::Node(id) => match self.nodes.get(id) {
                Some(node) if node.children.is_some() => Ok(()),
                Some(_) => Err(bad(format!(
                    "node \"{id}\" is not a group: it has no children"
                ))),
                None => Err(unknown(&Target::Node(id.clone()))),
            },
            Parent::Page(id) => Err(unknown(&Target::Page(id.clone()))),
        }
    }

    /// Where a node goes in `parent`'s list after `after`.
    fn position(&mut self, parent: &Parent, after: Option<&str>) -> Result<usize, OpError> {
        let list = self.list_mut(parent).ok_or_else(|| bad("no such parent"))?;
        match after {
            None => Ok(0),
            Some(after) => list
                .iter()
                .position(|c| c == after)
                .map(|i| i + 1)
                .ok_or_else(|| {
                    OpError::new(
                        RejectCode::UnknownTarget,
                        format!("node \"{after}\" (after) is not a child of {parent}"),
                    )
                }),
        }
    }

    fn apply_one(&mut self, op: &Op, undo: &mut Vec<Undo>) -> Result<(), OpError> {
        match op {
            Op::Set { target, key, value } => {
                if matches!(
                    key.as_str(),
                    "id" | "type" | "layers" | "children" | "pages"
                ) {
                    return Err(bad(format!("key \"{key}\" cannot be set")));
                }
                if key.is_empty() || key.len() > 256 {
                    return Err(bad("key must be 1 to 256 bytes"));
                }
                let props = self.props_mut(target).ok_or_else(|| unknown(target))?;
                let old = if value.is_null() {
                    props.shift_remove(key)
                } else {
                    props.insert(key.clone(), value.clone())
                };
                undo.push(Undo::Set(target.clone(), key.clone(), old));
                Ok(())
            }
            Op::Insert {
                node,
                parent,
                after,
            } => {
                self.check_parent(parent)?;
                let index = self.position(parent, after.as_deref())?;
                let id = self.add_node(node.clone(), parent.clone(), &mut None, &mut false)?;
                let list = self.list_mut(parent).expect("checked above");
                list.insert(index, id.clone());
                undo.push(Undo::Inserted(id));
                Ok(())
            }
            Op::InsertPage { page, after } => {
                let Value::Object(props) = page else {
                    return Err(bad("page is not a JSON object"));
                };
                let mut props = props.clone();
                let id = match props.get("id") {
                    Some(Value::String(id)) if valid_id(id) => id.clone(),
                    _ => {
                        return Err(bad(
                            "an inserted page needs an \"id\" of 1 to 64 characters of A-Za-z0-9_-",
                        ));
                    }
                };
                if self.pages.iter().any(|p| p.id == id) {
                    return Err(OpError::new(
                        RejectCode::IdTaken,
                        format!("page id \"{id}\" is taken"),
                    ));
                }
                let index = match after {
                    None => 0,
                    Some(after) => self
                        .pages
                        .iter()
                        .position(|p| p.id == *after)
                        .map(|i| i + 1)
                        .ok_or_else(|| unknown(&Target::Page(after.clone())))?,
                };
                let layers = take_list(&mut props, "layers")?.unwrap_or_default();
                let mut ids = Vec::with_capacity(layers.len());
                let parent = Parent::Page(id.clone());
                for node in layers {
                    match self.add_node(node, parent.clone(), &mut None, &mut false) {
                        Ok(child) => ids.push(child),
                        Err(e) => {
                            for child in &ids {
                                self.take_subtree(child, &mut Vec::new());
                            }
                            return Err(e);
                        }
                    }
                }
                self.pages.insert(
                    index,
                    PageEntry {
                        id: id.clone(),
                        props,
                        layers: ids,
                    },
                );
                undo.push(Undo::InsertedPage(id));
                Ok(())
            }
            Op::Delete { target } => match target {
                Target::Document => Err(bad("the document cannot be deleted")),
                Target::Page(id) => {
                    let index = self
                        .pages
                        .iter()
                        .position(|p| p.id == *id)
                        .ok_or_else(|| unknown(target))?;
                    let page = self.pages.remove(index);
                    let mut nodes = Vec::new();
                    for layer in &page.layers {
                        self.take_subtree(layer, &mut nodes);
                    }
                    undo.push(Undo::DeletedPage { index, page, nodes });
                    Ok(())
                }
                Target::Node(id) => {
                    let parent = self
                        .nodes
                        .get(id)
                        .map(|n| n.parent.clone())
                        .ok_or_else(|| unknown(target))?;
                    let list = self.list_mut(&parent).ok_or_else(|| unknown(target))?;
                    let index = list.iter().position(|c| c == id).unwrap_or(list.len());
                    list.retain(|c| c != id);
                    let mut nodes = Vec::new();
                    self.take_subtree(id, &mut nodes);
                    undo.push(Undo::Deleted {
                        parent,
                        index,
                        nodes,
                    });
                    Ok(())
                }
            },
            Op::Move {
                target,
                parent,
                after,
            } => {
                let Target::Node(id) = target else {
                    return Err(bad("only nodes can be moved"));
                };
                let old_parent = self
                    .nodes
                    .get(id)
                    .map(|n| n.parent.clone())
                    .ok_or_else(|| unknown(target))?;
                self.check_parent(parent)?;
                // A move into its own subtree: walk up from the new parent.
                let mut up = parent.clone();
                while let Parent::Node(ancestor) = &up {
                    if ancestor == id {
                        return Err(OpError::new(
                            RejectCode::Cycle,
                            format!("node \"{id}\" cannot move into its own subtree ({parent})"),
                        ));
                    }
                    match self.nodes.get(ancestor) {
                        Some(node) => up = node.parent.clone(),
                        None => break,
                    }
                }
                if after.as_deref() == Some(id.as_str()) {
                    return Err(bad(format!("node \"{id}\" cannot follow itself")));
                }
                let old_list = self.list_mut(&old_parent).ok_or_else(|| unknown(target))?;
                let old_index = old_list
                    .iter()
                    .position(|c| c == id)
                    .unwrap_or(old_list.len());
                old_list.retain(|c| c != id);
                let index = match self.position(parent, after.as_deref()) {
                    Ok(index) => index,
                    Err(e) => {
                        let list = self.list_mut(&old_parent).expect("it was there");
                        list.insert(old_index.min(list.len()), id.clone());
                        return Err(e);
                    }
                };
                self.list_mut(parent)
                    .expect("checked above")
                    .insert(index, id.clone());
                if let Some(node) = self.nodes.get_mut(id) {
                    node.parent = parent.clone();
                }
                undo.push(Undo::Moved {
                    id: id.clone(),
                    parent: old_parent,
                    index: old_index,
                });
                Ok(())
            }
        }
    }
}

/// A fresh id from `new_id` that `taken` does not know.
fn fresh(new_id: &mut dyn FnMut() -> String, taken: impl Fn(&str) -> bool) -> String {
    loop {
        let id = new_id();
        if !taken(&id) {
            return id;
        }
    }
}

/// Takes the array under `key` out of `props`, leaving a `null` where it was.
fn take_list(props: &mut Map<String, Value>, key: &str) -> Result<Option<Vec<Value>>, OpError> {
    match props.get_mut(key) {
        None => Ok(None),
        Some(value) => match value.take() {
            Value::Array(list) => Ok(Some(list)),
            _ => Err(bad(format!("{key} is not an array"))),
        },
    }
}

fn bad(detail: impl Into<String>) -> OpError {
    OpError::new(RejectCode::BadOp, detail)
}

fn unknown(target: &Target) -> OpError {
    OpError::new(
        RejectCode::UnknownTarget,
        format!("{target} does not exist"),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc() -> LiveDoc {
        let value = json!({"format": "glyph", "version": 1, "title": "T", "pages": [
            {"id": "p1", "width": 100, "height": 80, "layers": [
                {"id": "a", "type": "rect", "width": 1, "height": 1},
                {"id": "g", "type": "group", "children": [
                    {"id": "b", "type": "rect", "width": 1, "height": 1}]}]},
            {"width": 10, "height": 10, "layers": [{"type": "rect", "width": 1, "height": 1}]}]});
        let mut n = 0;
        let (doc, assigned) = LiveDoc::from_value(value, &mut || {
            n += 1;
            format!("x{n}")
        })
        .unwrap();
        assert!(assigned);
        doc
    }

    fn ops(value: Value) -> Vec<Op> {
        parse_ops(value.as_array().unwrap()).unwrap()
    }

    #[test]
    fn ids_are_assigned_where_missing_and_kept_where_given() {
        let doc = doc();
        let value = doc.to_value();
        assert_eq!(value["pages"][1]["id"], "x1");
        assert_eq!(value["pages"][1]["layers"][0]["id"], "x2");
        assert_eq!(value["pages"][0]["layers"][1]["children"][0]["id"], "b");
        assert_eq!(doc.node_count(), 4);
        // Key order is kept: layers stays after height.
        let keys: Vec<&String> = value["pages"][0].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["id", "width", "height", "layers"]);
    }

    #[test]
    fn every_op_applies_and_a_failing_push_changes_nothing() {
        let mut doc = doc();
        let before = doc.to_value();
        let push = ops(json!([
            {"op": "set", "target": {"node": "a"}, "key": "x", "value": 5},
            {"op": "insert", "node": {"id": "c", "type": "rect", "width": 2, "height": 2}, "parent": {"node": "g"}, "after": "b"},
            {"op": "move", "target": {"node": "a"}, "parent": {"node": "g"}, "after": null},
            {"op": "insertPage", "page": {"id": "p0", "width": 5, "height": 5, "layers": []}, "after": null},
            {"op": "set", "target": "document", "key": "title", "value": "New"},
            {"op": "delete", "target": {"page": "x1"}},
            {"op": "set", "target": {"node": "nope"}, "key": "x", "value": 1}
        ]));
        let err = doc.apply(&push, None).unwrap_err();
        assert_eq!(err.code, RejectCode::UnknownTarget);
        assert!(
            err.detail.starts_with("ops[6]: node \"nope\""),
            "{}",
            err.detail
        );
        assert_eq!(doc.to_value(), before);
        assert_eq!(doc.node_count(), 4);

        doc.apply(&push[..6], None).unwrap();
        let after = doc.to_value();
        assert_eq!(after["title"], "New");
        assert_eq!(after["pages"][0]["id"], "p0");
        assert_eq!(after["pages"].as_array().unwrap().len(), 2);
        let children: Vec<&str> = after["pages"][1]["layers"][0]["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(children, ["a", "b", "c"]);
        assert_eq!(after["pages"][1]["layers"][0]["children"][0]["x"], 5);
        assert!(!doc.has_node("x2"));
    }

    #[test]
    fn rejections_carry_the_protocol_codes() {
        let mut doc = doc();
        let code =
            |doc: &mut LiveDoc, op: Value| doc.apply(&ops(json!([op])), None).unwrap_err().code;
        assert_eq!(
            code(
                &mut doc,
                json!({"op": "insert", "node": {"id": "b", "type": "rect"}, "parent": {"page": "p1"}})
            ),
            RejectCode::IdTaken
        );
        assert_eq!(
            code(
                &mut doc,
                json!({"op": "move", "target": {"node": "g"}, "parent": {"node": "g"}})
            ),
            RejectCode::Cycle
        );
        assert_eq!(
            code(
                &mut doc,
                json!({"op": "set", "target": {"node": "a"}, "key": "type", "value": "ellipse"})
            ),
            RejectCode::BadOp
        );
        assert_eq!(
            code(
                &mut doc,
                json!({"op": "insert", "node": {"id": "z"}, "parent": {"node": "a"}})
            ),
            RejectCode::BadOp
        );
        assert_eq!(
            code(
                &mut doc,
                json!({"op": "delete", "target": {"page": "nope"}})
            ),
            RejectCode::UnknownTarget
        );
        assert_eq!(
            code(
                &mut doc,
                json!({"op": "insert", "node": {"id": "z", "type": "rect"}, "parent": {"page": "p1"}, "after": "b"})
            ),
            RejectCode::UnknownTarget
        );
        let bad = parse_ops(&[json!({"op": "explode"})]).unwrap_err();
        assert_eq!(bad.code, RejectCode::BadOp);
        let many = vec![json!({"op": "delete", "target": {"node": "a"}}); MAX_OPS + 1];
        assert_eq!(parse_ops(&many).unwrap_err().code, RejectCode::TooLarge);
        // A deep move that would make a cycle through a grandchild.
        doc.apply(&ops(json!([{"op": "insert", "node": {"id": "h", "type": "group", "children": []}, "parent": {"node": "g"}}])), None).unwrap();
        assert_eq!(
            code(
                &mut doc,
                json!({"op": "move", "target": {"node": "g"}, "parent": {"node": "h"}})
            ),
            RejectCode::Cycle
        );
    }

    #[test]
    fn a_failing_check_takes_the_push_back() {
        let mut doc = doc();
        let before = doc.to_value();
        let check = |_: &LiveDoc| Err(OpError::new(RejectCode::InvalidDocument, "pages[0].x: no"));
        let push = ops(json!([{"op": "delete", "target": {"node": "g"}}]));
        assert_eq!(
            doc.apply(&push, Some(&check)).unwrap_err().code,
            RejectCode::InvalidDocument
        );
        assert_eq!(doc.to_value(), before);
        assert!(doc.has_node("b"));
    }
}
