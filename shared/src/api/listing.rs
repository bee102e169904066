//! Harbor's list parameters: `page` and `page_size` with `X-Total-Count` and RFC 8288 `Link`,
//! `sort` (`f1,-f2`), and `q` (`k=v` exact, `k=~v` fuzzy, `k=[a~b]` range, `k={a b}` any of,
//! `k=(a b)` all of). Lists are filtered, sorted and paged over the items' JSON, by the names
//! clients see.

use std::cmp::Ordering;
use std::collections::HashMap;

use http::{HeaderValue, StatusCode};
use serde_json::Value;

use super::errors::ApiError;

pub const DEFAULT_PAGE_SIZE: u64 = 10;
pub const MAX_PAGE_SIZE: u64 = 100;

fn bad(field: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
        format!("{field}: {reason}"),
    )
}

/// The query string, decoded.
pub type Params = HashMap<String, String>;

pub fn params(query: Option<&str>) -> Params {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub page: u64,
    pub page_size: u64,
}

impl Paging {
    pub fn from(params: &Params) -> Result<Self, ApiError> {
        let number = |name: &str, default: u64| -> Result<u64, ApiError> {
            match params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u64>()
                    .map_err(|_| bad(name, format!("{v:?} is not a positive integer"))),
            }
        };
        let page = number("page", 1)?;
        let page_size = number("page_size", DEFAULT_PAGE_SIZE)?;
        if page == 0 {
            return Err(bad("page", "must be at least 1"));
        }
        if page_size == 0 || page_size > MAX_PAGE_SIZE {
            return Err(bad(
                "page_size",
                format!("must be from 1 to {MAX_PAGE_SIZE}"),
            ));
        }
        Ok(Self { page, page_size })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Exact(String),
    Fuzzy(String),
    Range(Option<String>, Option<String>),
    AnyOf(Vec<String>),
    AllOf(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    terms: Vec<(String, Condition)>,
}

fn unquote(value: &str) -> String {
    let v = value.trim();
    for quote in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(quote) && v.ends_with(quote) {
            return v[1..v.len() - 1].to_string();
        }
    }
    v.to_string()
}

/// Splits on commas outside brackets, braces, parentheses and quotes.
fn split_terms(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut current = String::new();
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{' | '(') => depth += 1,
            (None, ']' | '}' | ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                terms.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    terms.push(current);
    terms.into_iter().filter(|t| !t.trim().is_empty()).collect()
}

fn list_values(inner: &str) -> Vec<String> {
    inner.split_whitespace().map(unquote).collect()
}

impl Query {
    /// Parses `q`; `fields` are the keys it may name.
    pub fn parse(text: Option<&str>, fields: &[&str]) -> Result<Self, ApiError> {
        let mut terms = Vec::new();
        for term in split_terms(text.unwrap_or_default()) {
            let (key, value) = term
                .split_once('=')
                .ok_or_else(|| bad("q", format!("{term:?} is not key=value")))?;
            let key = key.trim().to_string();
            if !fields.contains(&key.as_str()) {
                return Err(bad(
                    "q",
                    format!(
                        "{key:?} cannot be queried; use one of {}",
                        fields.join(", ")
                    ),
                ));
            }
            let value = value.trim();
            let condition = if let Some(fuzzy) = value.strip_prefix('~') {
                Condition::Fuzzy(unquote(fuzzy))
            } else if let Some(range) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
                let (min, max) = range
                    .split_once('~')
                    .ok_or_else(|| bad("q", format!("range {value:?} is not [min~max]")))?;
                let bound = |b: &str| Some(unquote(b)).filter(|b| !b.is_empty());
                Condition::Range(bound(min), bound(max))
            } else if let Some(any) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
                Condition::AnyOf(list_values(any))
            } else if let Some(all) = value.strip_prefix('(').and_then(|v| v.strip_suffix(')')) {
                Condition::AllOf(list_values(all))
            } else {
                Condition::Exact(unquote(value))
            };
            terms.push((key, condition));
        }
        Ok(Self { terms })
    }

    /// Takes the terms on `key` out of the query, for a handler to apply itself: the exact
    /// value asked for, or a 400 for any other kind of condition or two different values.
    pub fn take_exact(&mut self, key: &str) -> Result<Option<String>, ApiError> {
        let mut taken: Option<String> = None;
        let mut refused = None;
        self.terms.retain(|(k, condition)| {
            if k != key {
                return true;
            }
            match (condition, &taken) {
                (Condition::Exact(v), Some(t)) if v != t => {
                    refused = Some(format!("{key} is asked for twice, as {t:?} and {v:?}"));
                }
                (Condition::Exact(v), _) => taken = Some(v.clone()),
                _ => refused = Some(format!("{key} takes only an exact value ({key}=value)")),
            }
            false
        });
        match refused {
            Some(reason) => Err(bad("q", reason)),
            None => Ok(taken),
        }
    }

    pub fn matches(&self, item: &Value) -> bool {
        self.terms.iter().all(|(key, condition)| {
            let field = lookup(item, key);
            let text = as_text(field);
            match condition {
                Condition::Exact(v) => text == *v,
                Condition::Fuzzy(v) => text.to_lowercase().contains(&v.to_lowercase()),
                Condition::Range(min, max) => {
                    min.as_ref()
                        .is_none_or(|m| compare_scalar(field, m) != Ordering::Less)
                        && max
                            .as_ref()
                            .is_none_or(|m| compare_scalar(field, m) != Ordering::Greater)
                }
                Condition::AnyOf(values) => values.contains(&text),
                Condition::AllOf(values) => match field {
                    Value::Array(items) => values
                        .iter()
                        .all(|v| items.iter().any(|i| as_text(i) == *v)),
                    _ => values.iter().all(|v| *v == text),
                },
            }
        })
    }
}

/// `sort=f1,-f2`, over the fields a list allows.
#[derive(Debug, Clone, PartialEq)]
pub struct Sort(Vec<(String, bool)>);

impl Sort {
    pub fn parse(text: Option<&str>, fields: &[&str], default: &str) -> Result<Self, ApiError> {
        let text = text.filter(|t| !t.trim().is_empty()).unwrap_or(default);
        let mut keys = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, descending) = match part.strip_prefix('-') {
                Some(name) => (name, true),
                None => (part, false),
            };
            if !fields.contains(&name) {
                return Err(bad(
                    "sort",
                    format!(
                        "{name:?} cannot be sorted on; use one of {}",
                        fields.join(", ")
                    ),
                ));
            }
            keys.push((name.to_string(), descending));
        }
        Ok(Self(keys))
    }

    pub fn apply(&self, items: &mut [Value]) {
        items.sort_by(|a, b| {
            for (key, descending) in &self.0 {
                let order = compare_values(lookup(a, key), lookup(b, key));
                let order = if *descending { order.reverse() } else { order };
                if order != Ordering::Equal {
                    return order;
                }
            }
            Ordering::Equal
        });
    }
}

fn lookup<'a>(item: &'a Value, key: &str) -> &'a Value {
    key.split('.')
        .fold(item, |v, part| v.get(part).unwrap_or(&Value::Null))
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => as_text(a).cmp(&as_text(b)),
    }
}

fn compare_scalar(field: &Value, bound: &str) -> Ordering {
    match (field.as_f64(), bound.parse::<f64>()) {
        (Some(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => as_text(field).as_str().cmp(bound),
    }
}

/// One page of `items` with Harbor's headers: `X-Total-Count` and `Link` (prev/next), keeping
/// the request's other parameters.
pub fn page_response(
    items: Vec<Value>,
    paging: Paging,
    path: &str,
    params: &Params,
) -> http::Response<bytes::Bytes> {
    let total = items.len() as u64;
    let start = (paging.page - 1)
        .saturating_mul(paging.page_size)
        .min(total) as usize;
    let end = start
        .saturating_add(paging.page_size as usize)
        .min(items.len());
    let page: Vec<Value> = items[start..end].to_vec();
    respond(page, start as u64, total, paging, path, params)
}

/// A page that starts at item `start` of `total`, with Harbor's headers.
fn respond(
    page: Vec<Value>,
    start: u64,
    total: u64,
    paging: Paging,
    path: &str,
    params: &Params,
) -> http::Response<bytes::Bytes> {
    let end = start.saturating_add(page.len() as u64);
    let mut response = super::json(StatusCode::OK, &page);
    let headers = response.headers_mut();
    headers.insert("x-total-count", HeaderValue::from(total));
    let link_to = |page: u64| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        let mut keys: Vec<&String> = params
            .keys()
            .filter(|k| *k != "page" && *k != "page_size")
            .collect();
        keys.sort();
        for key in keys {
            query.append_pair(key, &params[key]);
        }
        query.append_pair("page", &page.to_string());
        query.append_pair("page_size", &paging.page_size.to_string());
        format!("<{path}?{}>", query.finish())
    };
    let mut links = Vec::new();
    if paging.page > 1 && start > 0 {
        links.push(format!("{}; rel=\"prev\"", link_to(paging.page - 1)));
    }
    if end < total {
        links.push(format!("{}; rel=\"next\"", link_to(paging.page + 1)));
    }
    if let Ok(value) = HeaderValue::from_str(&links.join(" , ")) {
        if !links.is_empty() {
            headers.insert(http::header::LINK, value);
        }
    }
    response
}

/// One page of a listing read in the store's key order, alone: the items before it that `keep`
/// accepts are read past, none after it. Unfiltered (`keeps_all`), one query of exactly the
/// page's end reads no more than it answers.
pub async fn read_page<T, F, Fut>(
    paging: Paging,
    keeps_all: bool,
    keep: impl Fn(&T) -> bool,
    mut read: F,
) -> Result<Vec<T>, crate::ports::store::StoreError>
where
    F: FnMut(Option<String>, i32) -> Fut,
    Fut: std::future::Future<
        Output = Result<crate::ports::store::Page<T>, crate::ports::store::StoreError>,
    >,
{
    let skip =
        usize::try_from((paging.page - 1).saturating_mul(paging.page_size)).unwrap_or(usize::MAX);
    let wanted = usize::try_from(paging.page_size).unwrap_or(usize::MAX);
    let batch = if keeps_all {
        i32::try_from(skip.saturating_add(wanted).min(1000)).unwrap_or(1000)
    } else {
        1000
    };
    let (mut seen, mut page, mut cursor) = (0usize, Vec::new(), None::<String>);
    loop {
        let read = read(cursor.take(), batch).await?;
        for item in read.items {
            if !keep(&item) {
                continue;
            }
            if seen >= skip && page.len() < wanted {
                page.push(item);
            }
            seen += 1;
        }
        cursor = read.next;
        if page.len() == wanted || cursor.is_none() {
            return Ok(page);
        }
    }
}

/// What a list route accepts: the fields `q` may name (None: it reads no `q`), the fields
/// `sort` may name, and the order when none is asked for.
pub struct ListSpec {
    pub query: Option<&'static [&'static str]>,
    pub sort: &'static [&'static str],
    pub default_sort: &'static str,
}

/// A list request's parameters, checked against its route's [`ListSpec`]: every list route
/// reads, filters, sorts and pages the same way.
pub struct ListRequest {
    params: Params,
    paging: Paging,
    query: Option<Query>,
    sort: Sort,
    /// No `q` and the route's default order: the store's key order, so a page can be read
    /// without the rest.
    key_order: bool,
}

impl ListRequest {
    pub fn parse(query: Option<&str>, spec: &ListSpec) -> Result<Self, ApiError> {
        let params = params(query);
        let q = params.get("q").map(String::as_str);
        Ok(Self {
            paging: Paging::from(&params)?,
            query: spec
                .query
                .map(|fields| Query::parse(q, fields))
                .transpose()?,
            sort: Sort::parse(
                params.get("sort").map(String::as_str),
                spec.sort,
                spec.default_sort,
            )?,
            key_order: q.is_none_or(|q| q.trim().is_empty())
                && params
                    .get("sort")
                    .is_none_or(|s| s.trim().is_empty() || s.trim() == spec.default_sort),
            params,
        })
    }

    /// Takes the `q` terms on `key` out, for the handler to apply: see [`Query::take_exact`].
    pub fn take_exact(&mut self, key: &str) -> Result<Option<String>, ApiError> {
        match self.query.as_mut() {
            Some(query) => query.take_exact(key),
            None => Ok(None),
        }
    }

    /// A parameter given with a value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A parameter that must be one of `allowed` when given.
    pub fn one_of(&self, name: &str, allowed: &[&str]) -> Result<Option<&str>, ApiError> {
        match self.param(name) {
            None => Ok(None),
            Some(v) if allowed.contains(&v) => Ok(Some(v)),
            Some(v) => Err(bad(
                name,
                format!("{v:?} is not one of {}", allowed.join(", ")),
            )),
        }
    }

    /// Whether the items are asked for in the store's key order, unfiltered by `q`.
    pub fn in_key_order(&self) -> bool {
        self.key_order
    }

    pub fn paging(&self) -> Paging {
        self.paging
    }

    /// An answer of one page read on its own (in key order), of `total` items in all.
    pub fn answer_page<T: serde::Serialize>(
        &self,
        page: Vec<T>,
        total: u64,
        path: &str,
    ) -> http::Response<bytes::Bytes> {
        let values = page
            .into_iter()
            .map(|item| serde_json::to_value(item).unwrap_or_default())
            .collect();
        let start = (self.paging.page - 1).saturating_mul(self.paging.page_size);
        respond(values, start, total, self.paging, path, &self.params)
    }

    /// The page of `items` that `q`, `sort`, `page` and `page_size` ask for, with Harbor's
    /// headers, items as clients see them (their JSON).
    pub fn answer<T: serde::Serialize>(
        &self,
        items: impl IntoIterator<Item = T>,
        path: &str,
    ) -> http::Response<bytes::Bytes> {
        let mut values: Vec<Value> = items
            .into_iter()
            .map(|item| serde_json::to_value(item).unwrap_or_default())
            .filter(|value| self.query.as_ref().is_none_or(|q| q.matches(value)))
            .collect();
        self.sort.apply(&mut values);
        page_response(values, self.paging, path, &self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn items() -> Vec<Value> {
        vec![
            json!({"id": 1, "name": "alpha", "type": "harbor", "labels": ["a", "b"]}),
            json!({"id": 2, "name": "beta", "type": "docker-hub", "labels": ["a"]}),
            json!({"id": 3, "name": "gamma", "type": "harbor", "labels": []}),
        ]
    }

    fn ids(q: &str) -> Vec<i64> {
        let query = Query::parse(Some(q), &["id", "name", "type", "labels"]).expect("parses");
        items()
            .iter()
            .filter(|i| query.matches(i))
            .map(|i| i["id"].as_i64().unwrap_or_default())
            .collect()
    }

    #[test]
    fn query_patterns() {
        assert_eq!(ids("name=beta"), vec![2]);
        assert_eq!(ids("name=~AM"), vec![3]);
        assert_eq!(ids("id=[2~3]"), vec![2, 3]);
        assert_eq!(ids("id=[~1]"), vec![1]);
        assert_eq!(ids("name={alpha gamma}"), vec![1, 3]);
        assert_eq!(ids("labels=(a b)"), vec![1]);
        assert_eq!(ids("type=harbor,name=~a"), vec![1, 3]);
        assert_eq!(ids("name=\"beta\""), vec![2]);
        assert!(Query::parse(Some("color=red"), &["name"]).is_err());
        assert!(Query::parse(Some("name"), &["name"]).is_err());
        assert!(Query::parse(Some("id=[1-2]"), &["id"]).is_err());
        let mut query =
            Query::parse(Some("scope=namespace,name=beta"), &["scope", "name"]).expect("parses");
        assert_eq!(
            query.take_exact("scope").ok().flatten().as_deref(),
            Some("namespace")
        );
        assert!(query.matches(&items()[1]), "the rest still applies");
        assert_eq!(query.take_exact("scope").ok().flatten(), None);
        let mut fuzzy = Query::parse(Some("scope=~name"), &["scope"]).expect("parses");
        assert!(fuzzy.take_exact("scope").is_err());
    }

    /// A store of 25 items in key order that counts what it hands out.
    async fn read_from(
        paging: Paging,
        keeps_all: bool,
        keep: impl Fn(&i64) -> bool,
    ) -> (Vec<i64>, usize) {
        let handed = std::sync::atomic::AtomicUsize::new(0);
        let page = read_page(paging, keeps_all, keep, |cursor, limit| {
            let start: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
            let end = (start + usize::try_from(limit).unwrap_or(0)).min(25);
            handed.fetch_add(end - start, std::sync::atomic::Ordering::Relaxed);
            async move {
                Ok(crate::ports::store::Page {
                    items: (start..end).map(|i| i as i64 + 1).collect(),
                    next: (end < 25).then(|| end.to_string()),
                })
            }
        })
        .await
        .expect("page");
        (page, handed.into_inner())
    }

    #[tokio::test]
    async fn a_page_in_key_order_is_read_without_the_rest() {
        let paging = |page, page_size| Paging { page, page_size };
        assert_eq!(
            read_from(paging(1, 10), true, |_| true).await,
            ((1..=10).collect(), 10)
        );
        assert_eq!(
            read_from(paging(2, 10), true, |_| true).await,
            ((11..=20).collect(), 20)
        );
        assert_eq!(
            read_from(paging(3, 10), true, |_| true).await,
            ((21..=25).collect(), 25)
        );
        assert_eq!(
            read_from(paging(4, 10), true, |_| true).await.0,
            Vec::<i64>::new()
        );
        let even = |i: &i64| i % 2 == 0;
        assert_eq!(
            read_from(paging(2, 3), false, even).await.0,
            vec![8, 10, 12]
        );
    }

    #[test]
    fn sorting_and_paging() {
        let mut list = items();
        Sort::parse(Some("type,-id"), &["id", "type"], "id")
            .expect("sort")
            .apply(&mut list);
        let order: Vec<i64> = list
            .iter()
            .map(|i| i["id"].as_i64().unwrap_or_default())
            .collect();
        assert_eq!(order, vec![2, 3, 1]);
        assert!(Sort::parse(Some("secret"), &["id"], "id").is_err());

        let params = params(Some("page=2&page_size=1&q=type%3Dharbor"));
        let paging = Paging::from(&params).expect("paging");
        let response = page_response(items(), paging, "/api/v2.0/registries", &params);
        assert_eq!(response.headers()["x-total-count"], "3");
        let link = response.headers()["link"].to_str().expect("link");
        assert!(link.contains("page=1&page_size=1>; rel=\"prev\""), "{link}");
        assert!(link.contains("page=3&page_size=1>; rel=\"next\""), "{link}");
        assert!(link.contains("q=type%3Dharbor"), "{link}");
        let body: Vec<Value> = serde_json::from_slice(response.body()).expect("json");
        assert_eq!(body[0]["id"], 2);

        assert!(Paging::from(&super::params(Some("page_size=101"))).is_err());
        assert!(Paging::from(&super::params(Some("page=0"))).is_err());
        assert!(Paging::from(&super::params(Some("page=x"))).is_err());
        assert_eq!(
            Paging::from(&super::params(None)).expect("defaults"),
            Paging {
                page: 1,
                page_size: 10
            }
        );
    }
}
