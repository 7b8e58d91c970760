//! YAML with line numbers.
//!
//! serde_yaml reports a line only for the first syntax error and forgets positions once a value
//! is parsed. pxebake must report *every* problem with its line, so it parses YAML (with
//! saphyr-parser, a real YAML 1.2 parser) into a small tree that keeps each node's line, and
//! deserializes typed structs from that tree. Errors raised anywhere inside carry the line of
//! the innermost node that was being read.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

/// One YAML node and where it starts (1-based line).
#[derive(Debug, Clone)]
pub struct Node {
    pub line: usize,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Null,
    /// A scalar; `plain` is false for quoted and block scalars (always strings).
    Scalar {
        value: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A YAML problem at a line (None when the whole document is concerned).
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error { line: None, message: msg.to_string() }
    }
}

/// YAML's printable characters (1.2, 5.1): the parser stops at a NUL as if the file ended there,
/// so a stray NUL would silently drop the rest of the file.
fn non_printable(text: &str) -> Result<(), Error> {
    let printable = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}')
            || (c >= '\u{a0}' && !matches!(c, '\u{fffe}' | '\u{ffff}'))
    };
    // Most text is printable ASCII: bytes are checked first, characters only past the first other.
    let ascii = text.bytes().position(|b| !matches!(b, b'\t' | b'\n' | b'\r' | b' '..=b'~')).unwrap_or(text.len());
    let rest = text[ascii..].char_indices().find(|(_, c)| !printable(*c));
    let Some((at, c)) = rest.map(|(i, c)| (ascii + i, c)) else { return Ok(()) };
    let before = &text[..at];
    let line = 1 + before.matches('\n').count();
    let column = 1 + before.rsplit('\n').next().map_or(0, |l| l.chars().count());
    Err(Error {
        line: Some(line),
        message: format!(
            "character U+{:04X} (`{}`) at column {column} is not allowed in YAML (no control characters but tab and newline); remove it, or write it as an escape in a double-quoted string",
            c as u32,
            crate::names::printable(&c.to_string())
        ),
    })
}

impl Node {
    /// Parses one YAML document. An empty document is `Null` at line 1.
    pub fn parse(text: &str) -> Result<Node, Error> {
        Node::parse_with(text, false)
    }

    /// Parses an inventory file: like `parse`, and a merge key `<<` is an error (pxebake reads
    /// YAML 1.2, where it would silently be a key named `<<`).
    pub fn parse_inventory(text: &str) -> Result<Node, Error> {
        Node::parse_with(text, true)
    }

    /// Parses an inventory file whose top-level `section` list may be long (100,000 hosts): each
    /// of its items is handed to `item` once complete and left out of the tree (the list stays,
    /// empty), so the whole list is never held as nodes at once. Not when the list has an anchor
    /// (an alias elsewhere must see its items). When rayon may use more than one thread, the tree
    /// is built (and `item` called) on this thread while a second one parses.
    pub fn parse_inventory_streaming(text: &str, section: &str, item: &mut dyn FnMut(Node)) -> Result<Node, Error> {
        let builder = Builder { no_merge_keys: true, stream: Some((section, item)), ..Builder::default() };
        Node::parse_into(text, builder, rayon::current_num_threads() > 1)
    }

    fn parse_with(text: &str, no_merge_keys: bool) -> Result<Node, Error> {
        Node::parse_into(text, Builder { no_merge_keys, ..Builder::default() }, false)
    }

    fn parse_into(text: &str, mut builder: Builder<'_>, threaded: bool) -> Result<Node, Error> {
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(Error { line: None, message: too_large(text.len()) });
        }
        // A byte-order mark is allowed at the start of a YAML stream (YAML 1.2, 5.2).
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if !threaded {
            non_printable(text)?;
            events(text, |event, line| builder.event(event, line))?;
            return Ok(builder.finish());
        }
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Batch<'_>>(16);
            let parser = scope.spawn(move || -> Result<(), Error> {
                let mut batch = Batch::default();
                let parsed = events(text, |event, line| {
                    batch.push(event, line);
                    if batch.events.len() < EVENT_BATCH {
                        return Ok(());
                    }
                    // Fails only when the builder stopped at an error; that error is reported.
                    tx.send(std::mem::take(&mut batch)).map_err(|_| Error { line: None, message: "stopped".into() })
                });
                // The events before a syntax error too: the builder may find an earlier problem.
                let _ = tx.send(batch);
                parsed
            });
            // Checked while the parser starts; a NUL would end its input early, so its events
            // are only used for a printable text.
            if let Err(e) = non_printable(text) {
                drop(rx);
                let _ = parser.join();
                return Err(e);
            }
            let mut built = Ok(());
            'batches: for batch in &rx {
                let mut start = 0;
                for (event, line, end) in batch.events {
                    let event = match event {
                        Event::Scalar(_, style, anchor, tag) => {
                            let value = batch.text.get(start..end).unwrap_or_default();
                            start = end;
                            Event::Scalar(Cow::Borrowed(value), style, anchor, tag)
                        }
                        other => other,
                    };
                    if let Err(e) = builder.event(event, line) {
                        built = Err(e);
                        break 'batches;
                    }
                }
            }
            // A stopped builder stops the parser (its next send fails).
            drop(rx);
            let parsed = parser.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            // The builder's error is at an earlier event than the parser's: it comes first.
            built?;
            parsed?;
            Ok(builder.finish())
        })
    }

    /// The value of `key` in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Line of the node at `path` (keys and sequence indexes), or of the deepest node found.
    pub fn line_of(&self, path: &[PathItem]) -> usize {
        let mut node = self;
        for item in path {
            let next = match (item, &node.kind) {
                (PathItem::Key(k), Kind::Map(_)) => node.get(k),
                (PathItem::Index(i), Kind::Seq(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node.line
    }

    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Null => "null",
            Kind::Scalar { .. } => "a scalar",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

/// Events handed from the parser's thread to the tree builder, per batch.
const EVENT_BATCH: usize = 4096;

/// Events of the parser's thread. Scalars' text is copied into one string: each of the parser's
/// own strings is then freed by the thread that allocated it (malloc's arenas are per thread, and
/// freeing across threads contends for their locks).
#[derive(Default)]
struct Batch<'t> {
    /// Each event, its line, and where its scalar's text ends in `text`.
    events: Vec<(Event<'t>, usize, usize)>,
    text: String,
}

impl<'t> Batch<'t> {
    fn push(&mut self, event: Event<'t>, line: usize) {
        let event = match event {
            Event::Scalar(value, style, anchor, tag) => {
                self.text.push_str(&value);
                Event::Scalar(Cow::Borrowed(""), style, anchor, tag)
            }
            other => other,
        };
        self.events.push((event, line, self.text.len()));
    }
}

/// Parses `text`, handing each event and its line to `each`; stops at the first error.
fn events<'t>(text: &'t str, mut each: impl FnMut(Event<'t>, usize) -> Result<(), Error>) -> Result<(), Error> {
    // Lines of the open collections (0 for block ones): see `error_line`.
    let mut open: Vec<usize> = Vec::new();
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| Error {
            line: Some(error_line(text, e.marker().line(), &open)),
            message: format!("invalid YAML: {}", e.info()),
        })?;
        match event {
            // A flow collection's start event spans its `[` or `{`; a block one is empty.
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                open.push(if span.end.index() > span.start.index() { span.start.line() } else { 0 })
            }
            Event::SequenceEnd | Event::MappingEnd => {
                open.pop();
            }
            _ => {}
        }
        each(event, span.start.line())?;
    }
    Ok(())
}

/// The line to report for a syntax error found at `line`.
///
/// An unclosed `[` or `{` (or a missing value) is only noticed at the end of the input, whose
/// position is the line after the last one: report the innermost open flow collection instead,
/// or else the last line holding something.
fn error_line(text: &str, line: usize, open: &[usize]) -> usize {
    if line <= text.lines().count() {
        return line;
    }
    open.iter().rev().copied().find(|&l| l > 0).unwrap_or_else(|| {
        text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(|(i, _)| i + 1).last().unwrap_or(1)
    })
}

#[derive(Debug, Clone, Copy)]
pub enum PathItem<'a> {
    Key(&'a str),
    Index(usize),
}

/// Deepest nesting of lists and mappings accepted: real inventories use a handful of levels, and
/// the tree is walked recursively (deserializing, dropping), so depth must not reach the stack's.
pub const MAX_DEPTH: usize = 64;
/// Largest YAML document read: far above any inventory (100,000 hosts are about 20 MB), far
/// below what would exhaust memory once parsed.
pub const MAX_DOCUMENT_BYTES: usize = 64 << 20;

/// The message for a document over `MAX_DOCUMENT_BYTES`.
pub fn too_large(len: usize) -> String {
    format!(
        "the file is {} MiB; pxebake reads YAML files of at most {} MiB: split it into several files",
        len >> 20,
        MAX_DOCUMENT_BYTES >> 20
    )
}

/// Most nodes that aliases may expand to in one document: a few `&a [*b, *b, ...]` levels would
/// otherwise expand exponentially ("billion laughs").
pub const MAX_ALIAS_NODES: usize = 100_000;

/// An open list or mapping.
struct Open {
    node: Node,
    /// A mapping's key waiting for its value.
    pending: Option<Node>,
    anchor: usize,
    /// A large mapping's keys so far: duplicate detection in constant time per key. Small ones
    /// (most: a host, an interface) compare their few keys instead of allocating a set.
    keys: Option<HashSet<String>>,
    /// Items go to the builder's `stream`, not into this list.
    streamed: bool,
}

/// Mappings with more keys than this find duplicates with a hash set.
const SMALL_MAP: usize = 16;

#[derive(Default)]
struct Builder<'s> {
    /// The top-level section whose list items are handed out as they complete.
    stream: Option<(&'s str, &'s mut dyn FnMut(Node))>,
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    documents: usize,
    /// Nodes copied by aliases so far.
    expanded: usize,
    /// Refuse YAML 1.1 merge keys (the inventory; Go YAML readers of cloud-configs and Butane
    /// merge them, so those keep them as they are).
    no_merge_keys: bool,
}

/// A tag pxebake understands: one of the core schema's `allowed` (returned); anything else is an
/// error, never silently dropped.
fn check_tag<'t>(tag: &'t saphyr_parser::Tag, allowed: &[&str], line: usize) -> Result<&'t str, Error> {
    if tag.is_yaml_core_schema() && allowed.contains(&tag.suffix.as_str()) {
        return Ok(&tag.suffix);
    }
    Err(Error {
        line: Some(line),
        message: format!(
            "YAML tag `{}` is not supported here; use plain values (`!!str` makes a scalar a string)",
            crate::names::printable(&if tag.is_yaml_core_schema() {
                format!("!!{}", tag.suffix)
            } else {
                format!("{}{}", tag.handle, tag.suffix)
            })
        ),
    })
}

/// Nodes in a tree (recursion is bounded by `MAX_DEPTH`).
fn count(node: &Node) -> usize {
    match &node.kind {
        Kind::Seq(items) => 1 + items.iter().map(count).sum::<usize>(),
        Kind::Map(entries) => 1 + entries.iter().map(|(k, v)| count(k) + count(v)).sum::<usize>(),
        _ => 1,
    }
}

impl Builder<'_> {
    /// The document's root (an empty document is `Null` at line 1).
    fn finish(self) -> Node {
        self.root.unwrap_or(Node { line: 1, kind: Kind::Null })
    }

    fn event(&mut self, event: Event<'_>, line: usize) -> Result<(), Error> {
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Error {
                        line: Some(line),
                        message: "more than one YAML document (`---`) in one file; split them into separate files"
                            .into(),
                    });
                }
            }
            Event::Scalar(value, style, anchor, tag) => {
                // `!!str 123` is the string "123": the tag overrides the plain reading.
                let tagged_str = match tag.as_deref() {
                    None => false,
                    Some(t) => check_tag(t, &["str", "int", "float", "bool", "null"], line)? == "str",
                };
                let plain = matches!(style, ScalarStyle::Plain) && !tagged_str;
                let kind = if plain && matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL") {
                    Kind::Null
                } else {
                    // The parser's strings have room for 128 bytes more: keep what is used.
                    let mut value = value.into_owned();
                    value.shrink_to_fit();
                    Kind::Scalar { value, plain }
                };
                self.push(Node { line, kind }, anchor)?;
            }
            Event::Alias(id) => {
                let node = self
                    .anchors
                    .get(&id)
                    .ok_or_else(|| Error { line: Some(line), message: "alias to an unknown anchor".into() })?;
                self.expanded += count(node);
                if self.expanded > MAX_ALIAS_NODES {
                    return Err(Error {
                        line: Some(line),
                        message: format!(
                            "aliases (`*name`) expand to more than {MAX_ALIAS_NODES} values; write the data out or use fewer nested aliases"
                        ),
                    });
                }
                let node = node.clone();
                self.push(node, 0)?;
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                if let Some(t) = tag.as_deref() {
                    check_tag(t, &["seq", "map"], line)?;
                }
                if self.stack.len() >= MAX_DEPTH {
                    return Err(Error {
                        line: Some(line),
                        message: format!("lists and mappings are nested more than {MAX_DEPTH} levels deep"),
                    });
                }
                let seq = matches!(event, Event::SequenceStart(..));
                let streamed = seq && anchor == 0 && self.streams_here();
                let kind = if seq { Kind::Seq(Vec::new()) } else { Kind::Map(Vec::new()) };
                self.stack.push(Open { node: Node { line, kind }, pending: None, anchor, keys: None, streamed })
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(open) = self.stack.pop() {
                    self.push(open.node, open.anchor)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether a list starting now is the value of the streamed top-level section.
    fn streams_here(&self) -> bool {
        let Some((section, _)) = &self.stream else { return false };
        match self.stack.as_slice() {
            [top] => {
                matches!(top.node.kind, Kind::Map(_)) && top.pending.as_ref().and_then(Node::as_str) == Some(section)
            }
            _ => false,
        }
    }

    fn push(&mut self, node: Node, anchor: usize) -> Result<(), Error> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some(open) = self.stack.last_mut() else {
            self.root = Some(node);
            return Ok(());
        };
        match &mut open.node.kind {
            Kind::Seq(_) if open.streamed => {
                if let Some((_, item)) = &mut self.stream {
                    item(node);
                }
            }
            Kind::Seq(items) => items.push(node),
            Kind::Map(entries) => match open.pending.take() {
                None => open.pending = Some(node),
                Some(key) => {
                    // YAML 1.1's merge key: pxebake's reader (YAML 1.2) would keep it as a key
                    // named `<<` and silently merge nothing.
                    if self.no_merge_keys && matches!(&key.kind, Kind::Scalar { value, plain: true } if value == "<<") {
                        return Err(Error {
                            line: Some(key.line),
                            message: "merge keys (`<<`) are not supported; write the keys out (an alias `*name` may stand for a whole value)".into(),
                        });
                    }
                    if let Some(name) = key.as_str() {
                        let duplicate = if entries.len() < SMALL_MAP {
                            entries.iter().any(|(k, _)| k.as_str() == Some(name))
                        } else {
                            let keys = open.keys.get_or_insert_with(|| {
                                entries.iter().filter_map(|(k, _)| k.as_str().map(str::to_string)).collect()
                            });
                            !keys.insert(name.to_string())
                        };
                        if duplicate {
                            return Err(Error {
                                line: Some(key.line),
                                message: format!("duplicate key `{}`", crate::names::printable(name)),
                            });
                        }
                    }
                    entries.push((key, node));
                }
            },
            _ => {}
        }
        Ok(())
    }
}

/// Deserializes `T` from a node; the error carries the line of the innermost node concerned.
pub fn from_node<'de, T: serde::Deserialize<'de>>(node: &'de Node) -> Result<T, Error> {
    T::deserialize(node)
}

fn at(node: &Node) -> impl FnOnce(Error) -> Error + '_ {
    move |mut e| {
        if e.line.is_none() {
            e.line = Some(node.line);
        }
        e
    }
}

fn invalid<'a>(node: &'a Node, exp: &'a dyn de::Expected) -> Error {
    let unexp = match &node.kind {
        Kind::Null => de::Unexpected::Unit,
        Kind::Scalar { value, .. } => de::Unexpected::Str(value),
        Kind::Seq(_) => de::Unexpected::Seq,
        Kind::Map(_) => de::Unexpected::Map,
    };
    at(node)(de::Error::invalid_type(unexp, exp))
}

impl<'de> de::Deserializer<'de> for &'de Node {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let result = match &self.kind {
            Kind::Null => visitor.visit_unit(),
            Kind::Scalar { value, plain: true } => match value.as_str() {
                "true" | "True" | "TRUE" => visitor.visit_bool(true),
                "false" | "False" | "FALSE" => visitor.visit_bool(false),
                v => {
                    if let Ok(n) = v.parse::<u64>() {
                        visitor.visit_u64(n)
                    } else if let Ok(n) = v.parse::<i64>() {
                        visitor.visit_i64(n)
                    } else if looks_like_float(v) {
                        match v.parse::<f64>() {
                            Ok(f) => visitor.visit_f64(f),
                            Err(_) => visitor.visit_str(v),
                        }
                    } else {
                        visitor.visit_str(v)
                    }
                }
            },
            Kind::Scalar { value, .. } => visitor.visit_str(value),
            Kind::Seq(items) => visitor.visit_seq(Seq { iter: items.iter() }),
            Kind::Map(entries) => visitor.visit_map(Map { iter: entries.iter(), value: None }),
        };
        result.map_err(at(self))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.kind {
            Kind::Scalar { value, .. } => visitor.visit_str(value).map_err(at(self)),
            _ => Err(invalid(self, &visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.kind {
            Kind::Null => visitor.visit_none().map_err(at(self)),
            _ => visitor.visit_some(self).map_err(at(self)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self).map_err(at(self))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.kind {
            Kind::Seq(_) => self.deserialize_any(visitor),
            _ => Err(invalid(self, &visitor)),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.kind {
            Kind::Map(_) => self.deserialize_any(visitor),
            _ => Err(invalid(self, &visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match &self.kind {
            Kind::Scalar { value, .. } => visitor.visit_enum(value.as_str().into_deserializer()).map_err(at(self)),
            _ => Err(invalid(self, &visitor)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char
        bytes byte_buf unit unit_struct tuple tuple_struct
    }
}

fn looks_like_float(v: &str) -> bool {
    let v = v.strip_prefix(['-', '+']).unwrap_or(v);
    v.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && v.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
}

struct Seq<'de> {
    iter: std::slice::Iter<'de, Node>,
}

impl<'de> SeqAccess<'de> for Seq<'de> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        match self.iter.next() {
            Some(node) => seed.deserialize(node).map(Some).map_err(at(node)),
            None => Ok(None),
        }
    }
}

struct Map<'de> {
    iter: std::slice::Iter<'de, (Node, Node)>,
    value: Option<&'de Node>,
}

impl<'de> MapAccess<'de> for Map<'de> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(key).map(Some).map_err(at(key))
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let node = self.value.take().ok_or_else(|| de::Error::custom("value without key"))?;
        seed.deserialize(node).map_err(at(node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Iface {
        network: String,
        mtu: Option<u32>,
    }

    #[test]
    fn unknown_field_names_its_line() {
        let node = Node::parse("a:\n  network: x\n  mtuu: 3\n").unwrap();
        let err = from_node::<Iface>(node.get("a").unwrap()).unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("unknown field `mtuu`"), "{}", err.message);
    }

    #[test]
    fn type_error_names_its_line() {
        let node = Node::parse("network: x\nmtu: big\n").unwrap();
        let err = from_node::<Iface>(&node).unwrap_err();
        assert_eq!(err.line, Some(2));
    }

    #[test]
    fn quoted_numbers_stay_strings_and_plain_strings_read_as_str() {
        let node = Node::parse("network: 3975\nmtu: 1500\n").unwrap();
        let i: Iface = from_node(&node).unwrap();
        assert_eq!(i.network, "3975");
        assert_eq!(i.mtu, Some(1500));
    }

    #[test]
    fn an_unclosed_bracket_is_reported_where_it_opens_not_after_the_end() {
        let err = Node::parse("a: 1\nb: [\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err:?}");
        let err = Node::parse("a: 1\nb: [1,\n  {c: [2,\n\n\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err:?}");
        let err = Node::parse("a: {\n\n").unwrap_err();
        assert_eq!(err.line, Some(1), "{err:?}");
        // An error inside the text keeps its own line.
        assert_eq!(Node::parse("a: 1\nb: c: d\ne: 2\n").unwrap_err().line, Some(2));
        assert_eq!(Node::parse("a:\n  b: 1\n c: 2\n").unwrap_err().line, Some(3));
    }

    #[test]
    fn an_alias_bomb_is_an_error_not_gigabytes() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        let e = Node::parse(&text).unwrap_err();
        assert!(e.message.contains("aliases (`*name`) expand to more than 100000 values"), "{}", e.message);
        assert!(e.line.is_some_and(|l| l > 4 && l <= 12), "{:?}", e.line);
        // A few aliases of small anchors are fine.
        assert!(Node::parse("a: &x {k: v}\nb: *x\nc: *x\n").is_ok());
    }

    #[test]
    fn ten_thousand_levels_of_nesting_are_an_error_not_a_stack_overflow() {
        let mut block = String::new();
        for i in 0..10_000 {
            block.push_str(&" ".repeat(i));
            block.push_str("a:\n");
        }
        let e = Node::parse(&block).unwrap_err();
        assert_eq!(e.line, Some(MAX_DEPTH + 1), "{}", e.message);
        assert!(e.message.contains("nested more than 64 levels deep"), "{}", e.message);
        let flow = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let e = Node::parse(&flow).unwrap_err().message;
        assert!(e.contains("nested more than") || e.contains("recursion limit exceeded"), "{e}");
        let seq = "- ".repeat(10_000) + "x\n";
        assert!(Node::parse(&seq).unwrap_err().message.contains("nested more than"));
        let ordinary: String = (0..60).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
        assert!(Node::parse(&ordinary).is_ok(), "ordinary depth");
    }

    #[test]
    fn a_mapping_with_100000_keys_loads_in_linear_time() {
        let text: String = (0..100_000).map(|i| format!("key{i}: {i}\n")).collect();
        let node = Node::parse(&text).unwrap();
        assert!(matches!(&node.kind, Kind::Map(e) if e.len() == 100_000));
        let dup = format!("{text}key5: again\n");
        assert_eq!(Node::parse(&dup).unwrap_err().line, Some(100_001));
    }

    #[test]
    fn a_byte_order_mark_is_accepted_and_huge_documents_are_refused() {
        let node = Node::parse("\u{feff}network: x\n").unwrap();
        assert_eq!(node.get("network").and_then(Node::as_str), Some("x"));
        let big = "#".repeat(MAX_DOCUMENT_BYTES + 1);
        assert!(Node::parse(&big).unwrap_err().message.contains("at most 64 MiB"));
    }

    #[test]
    fn a_nul_byte_is_an_error_not_the_end_of_the_file() {
        let e = Node::parse("a: 1\nb: 2 # \0\nc: 3\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.starts_with("character U+0000 (`\\0`) at column 8 is not allowed in YAML"), "{}", e.message);
        let e = Node::parse("a: \u{1b}[31m\n").unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(
            Node::parse("a: \"\\0\\e\"\t# tab\r\nb: ü\u{85}\n").is_ok(),
            "escapes, tabs, CRLF, NEL and unicode are fine"
        );
        // Past the first character that is not ASCII: its line and column (in characters).
        let e = Node::parse("a: ü\nb: éé \u{7f}\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.starts_with("character U+007F (`\\u{7f}`) at column 7 is"), "{}", e.message);
        let e = Node::parse("a: ü\u{fffe}\n").unwrap_err();
        assert!(e.message.starts_with("character U+FFFE"), "{}", e.message);
    }

    #[test]
    fn a_streamed_list_hands_out_its_items_and_keeps_every_error() {
        let text = "a: 1\nhosts:\n  - { n: 1 }\n  - n: 2\n    m: [x]\nb: 2\n";
        let mut items = Vec::new();
        let root = Node::parse_inventory_streaming(text, "hosts", &mut |n| items.push(n)).unwrap();
        assert_eq!(items.iter().map(|n| n.line).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(items[1].get("m").map(|m| m.line), Some(5));
        assert!(matches!(&root.get("hosts").unwrap().kind, Kind::Seq(i) if i.is_empty()));
        assert_eq!(root.get("b").and_then(Node::as_str), Some("2"));
        // An anchored list is kept whole (an alias may stand for it).
        let anchored = Node::parse_inventory_streaming("hosts: &h\n  - x\n", "hosts", &mut |_| panic!()).unwrap();
        assert!(matches!(&anchored.get("hosts").unwrap().kind, Kind::Seq(i) if i.len() == 1));
        let mut long = String::from("hosts:\n");
        long.push_str(&"  - { n: 1 }\n".repeat(5000));
        for (bad, line) in [("  - { n: 1, n: 2 }\n", 5002), ("  - \0\n", 5002), ("  - [\n", 5003), ("  - !x y\n", 5002)]
        {
            let text = format!("{long}{bad}  - {{ n: 3 }}\n");
            let e = Node::parse_inventory_streaming(&text, "hosts", &mut |_| ()).unwrap_err();
            assert_eq!(
                (e.line, e.message.clone()),
                (Node::parse_inventory(&text).unwrap_err().line, Node::parse_inventory(&text).unwrap_err().message)
            );
            assert_eq!(e.line, Some(line), "{bad:?}: {e:?}");
        }
    }

    #[test]
    fn a_merge_key_is_an_error_not_a_key_named_lt_lt() {
        let e = Node::parse_inventory("base: &b { x: 1 }\nuse:\n  <<: *b\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(e.message.starts_with("merge keys (`<<`) are not supported"), "{}", e.message);
        assert!(Node::parse_inventory("a:\n  \"<<\": quoted is a plain key\n").is_ok());
        assert!(Node::parse("base: &b { x: 1 }\nuse:\n  <<: *b\n").is_ok(), "cloud-configs and Butane keep them");
    }

    #[test]
    fn yaml_tags_are_kept_not_dropped() {
        let i: Iface = from_node(&Node::parse("network: !!str 123\nmtu: !!int 1500\n").unwrap()).unwrap();
        assert_eq!((i.network.as_str(), i.mtu), ("123", Some(1500)));
        let n = Node::parse("a: !!str null\n").unwrap();
        assert!(matches!(n.get("a").map(|n| &n.kind), Some(Kind::Scalar { value, plain: false }) if value == "null"));
        let e = Node::parse("a: 1\nb: !custom x\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("YAML tag `!custom` is not supported"), "{}", e.message);
        assert!(Node::parse("a: !!map {b: 1}\nc: !!set {d}\n").unwrap_err().message.contains("!!set"));
    }

    #[test]
    fn syntax_and_duplicate_key_errors_have_lines() {
        assert!(Node::parse("a: 1\nb: [\n").unwrap_err().line.is_some());
        assert_eq!(Node::parse("a: 1\na: 2\n").unwrap_err().line, Some(2));
    }
}
