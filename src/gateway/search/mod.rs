//! Tool search: a small in-memory BM25F index over one view's tools, so a
//! client that would drown in hundreds of tools can ask for the few that fit
//! a task (`manifold__search_tools`) and call them by name.
//!
//! Why our own index and not a search crate: the corpus is a few hundred
//! short documents rebuilt whenever a session's tools change, the ranking
//! must be explainable, and the whole thing is a few hundred lines with no
//! I/O.
//!
//! Ranking. Every tool is one document whose fields are analyzed by `text`
//! and weighted by how much they say about what the tool is for: the name
//! (server prefix included, split into words) weighs most, then the titles,
//! the parameter names, the parameter descriptions and the description.
//! Term frequencies are combined across fields BM25F-style (each field
//! length-normalized on its own, weighted, summed, then saturated once with
//! `k1`), times the term's IDF. Three smaller signals follow, each a fraction
//! of an exact match so that none outranks one:
//!
//! - a query word that is the start of a longer name word ("repo" →
//!   "repository") earns a prefix bonus;
//! - a query word also looks for its synonyms and long forms ("ticket" →
//!   "issue", "pr" → "pull request"; the lists are in `text`), because
//!   agents describe a task in their words, not the tool author's;
//! - a query word typed exactly as a name word earns a little more than its
//!   stem alone ("tables" prefers `list_tables` to `describe_table`).
//!
//! Cost. [`ToolIndex::build`] precomputes each posting's combined, normalized
//! frequency, so [`ToolIndex::search`] only walks the postings of the query's
//! terms, of their synonyms and of the name words they prefix; it allocates
//! a score per tool and nothing that grows with the vocabulary.

mod text;

use std::collections::HashMap;

use rmcp::model::Tool;
use serde_json::Value;

/// BM25 term-frequency saturation.
const K1: f32 = 1.2;
/// BM25 length normalization (0: none, 1: full), the same for every field.
const B: f32 = 0.75;
/// How many fields a document has; see [`FIELD_WEIGHTS`].
const FIELDS: usize = 6;
const NAME: usize = 0;
const TITLE: usize = 1;
const PARAM_NAMES: usize = 2;
const PARAM_TEXT: usize = 3;
const DESCRIPTION: usize = 4;
/// The name's words unstemmed, as terms behind [`SURFACE`].
const NAME_SURFACE: usize = 5;
/// Weight of one occurrence in each field: name, titles, parameter names,
/// parameter descriptions, description, name as written.
const FIELD_WEIGHTS: [f32; FIELDS] = [3.0, 2.0, 1.5, 1.0, 1.0, 3.0];
/// Marks a term of [`NAME_SURFACE`]; no analyzed term contains it.
const SURFACE: &str = "=";
/// A query word typed exactly as a name word (`tables` in `list_tables`,
/// where stemming alone would tie it with `describe_table`) adds this
/// fraction of a match.
const SURFACE_WEIGHT: f32 = 0.25;
/// A prefix match scores this fraction of an exact match of the same word.
const PREFIX_FACTOR: f32 = 0.4;
/// A word related to a query word (a synonym, or an abbreviation's long
/// form; see [`text::related_terms`]) scores this fraction of the word.
const SYNONYM_WEIGHT: f32 = 0.5;
/// Query words shorter than this do not prefix-match (too many false hits).
const MIN_PREFIX: usize = 4;

/// One document's share of a term.
#[derive(Debug, Clone, Copy)]
struct Posting {
    doc: u32,
    /// Weighted, length-normalized frequency summed over all fields.
    tf: f32,
    /// The same, counting the name field only (for prefix matches).
    name_tf: f32,
}

/// A ranked text index over one view's tools.
#[derive(Debug, Clone, Default)]
pub struct ToolIndex {
    terms: HashMap<String, u32>,
    idf: Vec<f32>,
    postings: Vec<Vec<Posting>>,
    /// The terms that occur in some name, sorted, for prefix lookups.
    name_terms: Vec<(String, u32)>,
    /// For a query term, the ids of the indexed terms related to it.
    related: HashMap<String, Vec<u32>>,
    docs: usize,
}

impl ToolIndex {
    /// Indexes `tools` (rmcp::model::Tool, whose `name` is the exposed name such as
    /// `github__create_issue`), in order; a hit refers to a tool by its position here.
    pub fn build(tools: &[Tool]) -> Self {
        let fields: Vec<[Vec<String>; FIELDS]> = tools.iter().map(fields_of).collect();
        let mut avg_len = [0f32; FIELDS];
        for doc in &fields {
            for (sum, field) in avg_len.iter_mut().zip(doc) {
                *sum += field.len() as f32;
            }
        }
        for sum in &mut avg_len {
            *sum = (*sum / tools.len().max(1) as f32).max(1.0);
        }

        let mut index = Self {
            docs: tools.len(),
            ..Self::default()
        };
        let mut counts: HashMap<&str, [u16; FIELDS]> = HashMap::new();
        for (doc, doc_fields) in fields.iter().enumerate() {
            counts.clear();
            for (f, field) in doc_fields.iter().enumerate() {
                for term in field {
                    let tf = &mut counts.entry(term.as_str()).or_default()[f];
                    *tf = tf.saturating_add(1);
                }
            }
            let norm: [f32; FIELDS] = std::array::from_fn(|f| {
                FIELD_WEIGHTS[f] / (1.0 - B + B * doc_fields[f].len() as f32 / avg_len[f])
            });
            let mut sorted: Vec<_> = counts.iter().collect();
            sorted.sort_unstable_by_key(|(term, _)| **term);
            for (term, tfs) in sorted {
                let tf = tfs.iter().zip(norm).map(|(&n, w)| f32::from(n) * w).sum();
                let posting = Posting {
                    doc: u32::try_from(doc).unwrap_or(u32::MAX),
                    tf,
                    name_tf: f32::from(tfs[NAME]) * norm[NAME],
                };
                index.add(term, posting);
            }
        }

        let n = tools.len() as f32;
        index.idf = index
            .postings
            .iter()
            .map(|list| {
                let df = list.len() as f32;
                (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
            })
            .collect();
        index.name_terms = index
            .terms
            .iter()
            .filter(|&(_, &id)| index.postings[id as usize].iter().any(|p| p.name_tf > 0.0))
            .map(|(term, &id)| (term.clone(), id))
            .collect();
        index.name_terms.sort_unstable();
        index.related = text::related_terms()
            .into_iter()
            .map(|(term, others)| {
                let ids = others.iter().filter_map(|t| index.terms.get(t).copied());
                (term, ids.collect::<Vec<u32>>())
            })
            .filter(|(_, ids)| !ids.is_empty())
            .collect();
        index
    }

    fn add(&mut self, term: &str, posting: Posting) {
        let id = match self.terms.get(term) {
            Some(&id) => id as usize,
            None => {
                let id = self.postings.len();
                self.terms
                    .insert(term.to_owned(), u32::try_from(id).unwrap_or(u32::MAX));
                self.postings.push(Vec::new());
                id
            }
        };
        self.postings[id].push(posting);
    }

    /// The best `limit` matches for `query`, best first, as (position, score);
    /// tools with score 0 are not returned; ties broken by position.
    pub fn search(&self, query: &str, limit: usize) -> Vec<(usize, f32)> {
        let mut words = text::analyze(query);
        words.sort_unstable();
        words.dedup();
        if words.is_empty() || limit == 0 || self.docs == 0 {
            return Vec::new();
        }
        let mut scores = vec![0f32; self.docs];
        let mut bonus = vec![0f32; self.docs];
        // Related terms that are not query words themselves, each once.
        let mut related: Vec<u32> = words
            .iter()
            .filter_map(|word| self.related.get(word.as_str()))
            .flatten()
            .copied()
            .filter(|&id| {
                !words
                    .iter()
                    .any(|w| self.terms.get(w.as_str()) == Some(&id))
            })
            .collect();
        related.sort_unstable();
        related.dedup();
        for &id in &related {
            self.add_term(id as usize, SYNONYM_WEIGHT, &mut scores);
        }
        let mut typed = Vec::new();
        text::surface_into(query, SURFACE, &mut typed);
        typed.sort_unstable();
        typed.dedup();
        let inflected = typed.iter().filter(|w| {
            let word = &w[SURFACE.len()..];
            text::stem(word) != word
        });
        for id in inflected.filter_map(|w| self.terms.get(w.as_str())) {
            self.add_term(*id as usize, SURFACE_WEIGHT, &mut scores);
        }
        for word in &words {
            let exact = self.terms.get(word.as_str()).map(|&id| id as usize);
            if let Some(id) = exact {
                self.add_term(id, 1.0, &mut scores);
            }
            if word.chars().count() >= MIN_PREFIX {
                self.prefix_bonus(word, exact.map(|id| self.idf[id]), &mut bonus);
                for (score, extra) in scores.iter_mut().zip(&mut bonus) {
                    *score += std::mem::take(extra);
                }
            }
        }
        let mut hits: Vec<(usize, f32)> = scores
            .into_iter()
            .enumerate()
            .filter(|&(_, score)| score > 0.0)
            .collect();
        hits.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        hits.truncate(limit);
        hits
    }

    /// Adds term `id`'s BM25F score, times `weight`, to each tool that has it.
    fn add_term(&self, id: usize, weight: f32, scores: &mut [f32]) {
        for p in &self.postings[id] {
            scores[p.doc as usize] += weight * self.idf[id] * p.tf / (K1 + p.tf);
        }
    }

    /// Writes into `bonus` (one slot per tool) the best prefix-match bonus
    /// each tool earns for `word`: a name term that starts with `word` counts
    /// as an exact match times [`PREFIX_FACTOR`], with an IDF no higher than
    /// `word`'s own (`exact_idf`), so a prefix hit never outranks the word.
    fn prefix_bonus(&self, word: &str, exact_idf: Option<f32>, bonus: &mut [f32]) {
        let start = self
            .name_terms
            .partition_point(|(term, _)| term.as_str() < word);
        let expansions = self.name_terms[start..]
            .iter()
            .take_while(|(term, _)| term.starts_with(word))
            .filter(|(term, _)| term != word);
        for &(_, id) in expansions {
            let id = id as usize;
            let idf = exact_idf.map_or(self.idf[id], |e| e.min(self.idf[id]));
            for p in self.postings[id].iter().filter(|p| p.name_tf > 0.0) {
                let extra = PREFIX_FACTOR * idf * p.name_tf / (K1 + p.name_tf);
                let slot = &mut bonus[p.doc as usize];
                *slot = slot.max(extra);
            }
        }
    }

    /// How many tools are indexed.
    pub fn len(&self) -> usize {
        self.docs
    }

    /// Whether no tool is indexed.
    pub fn is_empty(&self) -> bool {
        self.docs == 0
    }
}

/// The analyzed fields of one tool, indexed by the field constants.
fn fields_of(tool: &Tool) -> [Vec<String>; FIELDS] {
    let mut fields: [Vec<String>; FIELDS] = Default::default();
    // `{server}__{tool}`: the analyzer splits at `_`, so the server prefix
    // becomes name words like the tool's own.
    text::analyze_into(&tool.name, &mut fields[NAME]);
    text::surface_into(&tool.name, SURFACE, &mut fields[NAME_SURFACE]);
    let titles = [
        tool.title.as_deref(),
        tool.annotations.as_ref().and_then(|a| a.title.as_deref()),
    ];
    for title in titles.into_iter().flatten() {
        text::analyze_into(title, &mut fields[TITLE]);
    }
    if let Some(Value::Object(properties)) = tool.input_schema.get("properties") {
        for (param, schema) in properties {
            text::analyze_into(param, &mut fields[PARAM_NAMES]);
            if let Some(Value::String(about)) = schema.get("description") {
                text::analyze_into(about, &mut fields[PARAM_TEXT]);
            }
        }
    }
    if let Some(description) = &tool.description {
        text::analyze_into(description, &mut fields[DESCRIPTION]);
    }
    fields
}

#[cfg(test)]
mod tests;
