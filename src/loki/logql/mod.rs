//! LogQL, the subset edge-logger answers: the tree (`ast`), text into tree (`parse`) and tree
//! into canonical text (`print`). Pure, with a table of Loki's documented examples.

pub mod ast;
pub mod parse;
pub mod print;

#[cfg(test)]
mod tests;
