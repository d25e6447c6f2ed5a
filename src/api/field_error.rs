//! A field error: one thing wrong with a document, at one JSON path, and the path arithmetic the
//! schema check and the validation share.
//!
//! Only the error's shape and its paths live here; what is wrong is decided by the schema check
//! and the validation rules, never here.

use std::fmt;

/// One thing wrong with a document, at one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the field, e.g. `spec.redisLeader.pdb`.
    pub path: String,
    /// What is wrong, in words a user can act on.
    pub message: String,
}

impl FieldError {
    /// An error at `path`.
    pub fn new(path: &str, message: impl Into<String>) -> FieldError {
        FieldError {
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}", self.path, self.message)
    }
}

/// `parent.child`, or `child` at the root.
pub fn join(parent: &str, child: &str) -> String {
    // An empty key is legal in YAML and JSON; the path must still show where it is.
    if child.is_empty() {
        return format!("{parent}[\"\"]");
    }
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}
