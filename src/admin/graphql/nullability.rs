//! Null propagation as the GraphQL spec has it (§6.4.4, "Handling Field
//! Errors"), which async-graphql 7 does not do on its own: it drops a
//! failing field from its parent object, and answers `data: null` when
//! that leaves the root empty. Clients (Apollo, urql, `gql`) take
//! `data: null` for a failed operation, so `server(name:)` on a server the
//! caller may not see must be `{"server": null}` with the error.
//!
//! The rule, applied by this extension's resolve hook on every field:
//!
//! - a **nullable** field that fails resolves to `null`; its error is kept
//!   and added to the response;
//! - a **non-null** field that fails leaves a "hole" (its path is
//!   recorded); the nearest nullable position above it — a list item or a
//!   field — becomes `null` when that field finishes resolving;
//! - a hole that reaches the root nulls the whole `data`.
//!
//! It is active only while a query or mutation executes (the execute hook);
//! subscription events pass through untouched.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, ResolveInfo,
};
use async_graphql::{PathSegment, QueryPathNode, QueryPathSegment, Response, ServerError, Value};

/// Installs [`Nullability`] on a schema.
pub(crate) struct NullPropagation;

impl ExtensionFactory for NullPropagation {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Nullability::default())
    }
}

/// One request's state.
#[derive(Default)]
struct Nullability {
    /// Set while a query or mutation executes.
    executing: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Errors of nullable fields that resolved to `null` instead.
    errors: Vec<ServerError>,
    /// Paths of non-null fields that failed or were nulled, whose parent
    /// has not yet taken the `null` over.
    holes: Vec<Vec<PathSegment>>,
}

impl Nullability {
    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a resolver panicked; the data is fine.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The response path of a field being resolved.
fn path_of(node: &QueryPathNode<'_>) -> Vec<PathSegment> {
    let mut path = Vec::new();
    let mut at = Some(node);
    while let Some(node) = at {
        path.push(match node.segment {
            QueryPathSegment::Index(i) => PathSegment::Index(i),
            QueryPathSegment::Name(name) => PathSegment::Field(name.to_owned()),
        });
        at = node.parent;
    }
    path.reverse();
    path
}

/// Whether a GraphQL type (`Server`, `[Tool!]!`) admits `null`.
fn nullable(ty: &str) -> bool {
    !ty.ends_with('!')
}

/// The item type of a list type (`[Tool!]!` → `Tool!`); the type itself
/// when it is not a list.
fn item_type(ty: &str) -> &str {
    let ty = ty.strip_suffix('!').unwrap_or(ty);
    ty.strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(ty)
}

/// Where a hole inside a field's value stops.
enum Nulled {
    /// A nullable list item took it over.
    Item,
    /// Nothing below the field could: the field itself is null.
    Field,
}

/// Nulls the nearest nullable position of `value` (a field's value of
/// type `ty`) that holds the hole reached through the list `indices`.
fn null_in(value: &mut Value, ty: &str, indices: &[usize]) -> Nulled {
    // Positions from the outermost list item inwards; the last nullable one
    // wins, as it is nearest to the hole.
    let mut types = Vec::new();
    let mut t = ty;
    for _ in indices {
        t = item_type(t);
        types.push(t);
    }
    let Some(depth) = types.iter().rposition(|t| nullable(t)) else {
        return Nulled::Field;
    };
    let mut at = value;
    for &i in &indices[..depth] {
        match at {
            Value::List(items) if i < items.len() => at = &mut items[i],
            _ => return Nulled::Field,
        }
    }
    match at {
        Value::List(items) if indices[depth] < items.len() => {
            items[indices[depth]] = Value::Null;
            Nulled::Item
        }
        _ => Nulled::Field,
    }
}

#[async_trait::async_trait]
impl Extension for Nullability {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        self.executing.store(true, Ordering::SeqCst);
        let mut response = next.run(ctx, operation_name).await;
        self.executing.store(false, Ordering::SeqCst);
        let mut state = self.state();
        response.errors.append(&mut state.errors);
        if state.holes.iter().any(|hole| hole.len() == 1) {
            response.data = Value::Null;
        }
        response
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> async_graphql::ServerResult<Option<Value>> {
        if !self.executing.load(Ordering::SeqCst) {
            return next.run(ctx, info).await;
        }
        let path = path_of(info.path_node);
        let ty = info.return_type.to_owned();
        match next.run(ctx, info).await {
            Err(err) if nullable(&ty) => {
                self.state().errors.push(err);
                Ok(Some(Value::Null))
            }
            Err(err) => {
                self.state().holes.push(path);
                Err(err)
            }
            Ok(Some(mut value)) => {
                let mut state = self.state();
                let mut field_is_null = false;
                state.holes.retain(|hole| {
                    let Some(rest) = hole.strip_prefix(path.as_slice()) else {
                        return true;
                    };
                    if rest.is_empty() {
                        return true;
                    }
                    let indices: Vec<usize> = rest
                        .iter()
                        .map_while(|s| match s {
                            PathSegment::Index(i) => Some(*i),
                            PathSegment::Field(_) => None,
                        })
                        .collect();
                    if let Nulled::Field = null_in(&mut value, &ty, &indices) {
                        field_is_null = true;
                    }
                    false
                });
                if !field_is_null {
                    return Ok(Some(value));
                }
                if nullable(&ty) {
                    Ok(Some(Value::Null))
                } else {
                    state.holes.push(path);
                    Ok(Some(Value::Null))
                }
            }
            Ok(None) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_item_types_and_nullability_read_from_the_type_name() {
        assert!(nullable("Server"));
        assert!(!nullable("Server!"));
        assert_eq!(item_type("[Tool!]!"), "Tool!");
        assert_eq!(item_type("[[Tool]!]"), "[Tool]!");
        assert_eq!(item_type("Tool"), "Tool");
    }

    #[test]
    fn a_hole_nulls_the_nearest_nullable_list_item_or_else_the_field() {
        let list = || Value::List(vec![Value::Null, Value::from(1), Value::from(2)]);
        let mut value = list();
        assert!(matches!(null_in(&mut value, "[Tool]!", &[1]), Nulled::Item));
        assert_eq!(
            value,
            Value::List(vec![Value::Null, Value::Null, Value::from(2)])
        );
        let mut value = list();
        assert!(matches!(
            null_in(&mut value, "[Tool!]", &[1]),
            Nulled::Field
        ));
        let mut value = Value::List(vec![list(), list()]);
        assert!(matches!(
            null_in(&mut value, "[[Tool!]]!", &[1, 2]),
            Nulled::Item
        ));
        assert_eq!(value, Value::List(vec![list(), Value::Null]));
        assert!(matches!(
            null_in(&mut Value::Null, "Server", &[]),
            Nulled::Field
        ));
    }
}
