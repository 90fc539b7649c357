//! JSONL: one record per line.
use crate::{Merged, Options};
pub(crate) fn merge(_: &[u8], _: &[u8], _: &[u8], _: &Options) -> Option<Merged> { None }
