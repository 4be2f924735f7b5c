//! Printing results: human tables by default, `-o json` or `-o yaml` for machines.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use clap::ValueEnum;
use serde::Serialize;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// JSON, pretty-printed.
    Json,
    /// YAML.
    Yaml,
}

/// Prints `value` as JSON or YAML; `table` is the caller's rendering for people.
pub fn print<T: Serialize>(format: Format, value: &T, table: impl FnOnce() -> Table) -> Result<()> {
    match format {
        Format::Table => print!("{}", table().render()),
        Format::Json => println!("{}", serde_json::to_string_pretty(value).context("cannot encode JSON")?),
        Format::Yaml => print!("{}", serde_saphyr::to_string(value).context("cannot encode YAML")?),
    }
    Ok(())
}

/// A table of text cells with a header row, columns padded to their widest cell.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column titles.
    pub fn new(header: Vec<&'static str>) -> Self {
        Self { header, rows: Vec::new() }
    }

    /// Adds a row; it should have one cell per column.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row, the last column unpadded.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.header.iter().map(|h| (*h).to_owned()).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let last = row.len().saturating_sub(1);
            for (i, cell) in row.iter().enumerate() {
                if i == last {
                    out.push_str(cell);
                } else {
                    let _ = write!(out, "{cell:<width$}  ", width = widths[i]);
                }
            }
            out.push('\n');
        }
        out
    }
}

/// Tags as `k=v,k=v`, sorted by key, the form the original's tables use.
pub fn tags_cell(tags: &std::collections::BTreeMap<String, String>) -> String {
    tags.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned() {
        let mut table = Table::new(vec!["ID", "TAGS"]);
        table.row(vec!["instance-1".into(), "a=b".into()]);
        table.row(vec!["i".into(), "".into()]);
        assert_eq!(table.render(), "ID          TAGS\ninstance-1  a=b\ni           \n");
    }
}
