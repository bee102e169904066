//! Policy records: the policy without its embedded registries (their ids beside it), a version
//! for conditional updates, and the registries' reference counts moved in the same transaction.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::paging::PageQuery;
use super::{delete, key_id, n, optimistic, put, to_item, DynamoStore, LIST_KEY};
use crate::model::{time_format, Registry, ReplicationPolicy, ValidationError};
use crate::ports::store::{Page, PolicyChange, PolicyStore, StoreError};

#[derive(Serialize, Deserialize)]
struct PolicyItem {
    #[serde(flatten)]
    policy: ReplicationPolicy,
    src_registry_id: i64,
    dest_registry_id: i64,
    list_key: String,
    version: i64,
}

fn name_guard(name: &str) -> String {
    format!("policy-name#{name}")
}

fn missing_registry(field: &str, id: i64) -> StoreError {
    StoreError::Invalid(ValidationError::new(
        field,
        format!("registry {id} does not exist"),
    ))
}

impl PolicyItem {
    fn of(policy: &ReplicationPolicy, version: i64) -> Self {
        let mut stored = policy.clone();
        stored.src_registry = None;
        stored.dest_registry = None;
        Self {
            src_registry_id: policy.src_registry_id(),
            dest_registry_id: policy.dest_registry_id(),
            policy: stored,
            list_key: LIST_KEY.into(),
            version,
        }
    }

    /// The policy with references (ids only) to its registries.
    fn read(self) -> ReplicationPolicy {
        let mut policy = self.policy;
        let reference = |id: i64| {
            (id != 0).then(|| Registry {
                id,
                ..Registry::default()
            })
        };
        policy.src_registry = reference(self.src_registry_id);
        policy.dest_registry = reference(self.dest_registry_id);
        policy
    }
}

/// How the reference counts move when a policy's registries change from `old` to `new`
/// (source, destination): one entry per registry whose count changes, with the field that
/// named it. A swap of source and destination moves nothing.
fn reference_moves(old: (i64, i64), new: (i64, i64)) -> Vec<(i64, i64, &'static str)> {
    let mut deltas: Vec<(i64, i64, &'static str)> = Vec::new();
    for (field, old, new) in [
        ("src_registry.id", old.0, new.0),
        ("dest_registry.id", old.1, new.1),
    ] {
        for (registry_id, delta) in [(new, 1), (old, -1)] {
            if registry_id == 0 || old == new {
                continue;
            }
            match deltas.iter_mut().find(|(id, _, _)| *id == registry_id) {
                Some(entry) => entry.1 += delta,
                None => deltas.push((registry_id, delta, field)),
            }
        }
    }
    deltas.retain(|(_, delta, _)| *delta != 0);
    deltas
}

impl DynamoStore {
    async fn policy_item(&self, id: i64) -> Result<PolicyItem, StoreError> {
        self.get_item(&self.tables.policies, key_id(id))
            .await?
            .ok_or(StoreError::NotFound {
                entity: "policy",
                id,
            })
    }
}

#[async_trait]
impl PolicyStore for DynamoStore {
    async fn create_policy(
        &self,
        policy: &ReplicationPolicy,
    ) -> Result<ReplicationPolicy, StoreError> {
        let id = self.allocate_ids("policy", 1).await?;
        let now = time_format::now();
        let mut record = policy.clone();
        record.id = id;
        record.creation_time = now;
        record.update_time = now;
        let item = PolicyItem::of(&record, 1);
        let table = &self.tables.policies;
        let mut items = vec![
            self.name_guard_put(&name_guard(&record.name), id)?,
            put(
                table,
                to_item(table, &item)?,
                "attribute_not_exists(id)",
                vec![],
            )?,
        ];
        let refs: Vec<(&str, i64)> = [
            ("src_registry.id", item.src_registry_id),
            ("dest_registry.id", item.dest_registry_id),
        ]
        .into_iter()
        .filter(|(_, id)| *id != 0)
        .collect();
        for (_, registry_id) in &refs {
            items.push(self.registry_ref_update(*registry_id, 1)?);
        }
        match self.transact(table, items).await? {
            Ok(()) => Ok(item.read()),
            Err(reasons) => {
                if reasons.first() == Some(&true) {
                    return Err(StoreError::DuplicateName {
                        entity: "policy",
                        name: record.name,
                    });
                }
                for (i, (field, registry_id)) in refs.iter().enumerate() {
                    if reasons.get(2 + i) == Some(&true) {
                        return Err(missing_registry(field, *registry_id));
                    }
                }
                Err(StoreError::Conflict {
                    entity: "policy",
                    id,
                })
            }
        }
    }

    async fn get_policy(&self, id: i64) -> Result<ReplicationPolicy, StoreError> {
        Ok(self.policy_item(id).await?.read())
    }

    async fn update_policy(
        &self,
        id: i64,
        change: &PolicyChange<'_>,
    ) -> Result<ReplicationPolicy, StoreError> {
        let table = &self.tables.policies;
        optimistic("policy", id, || async move {
            let current = self.policy_item(id).await?;
            let (version, old_name) = (current.version, current.policy.name.clone());
            let old_refs = (current.src_registry_id, current.dest_registry_id);
            let mut updated = current.read();
            change(&mut updated)?;
            updated.id = id;
            updated.update_time = time_format::now();
            let item = PolicyItem::of(&updated, version + 1);
            let mut items = vec![put(
                table,
                to_item(table, &item)?,
                "version = :v",
                vec![(":v", n(version))],
            )?];
            let renamed = updated.name != old_name;
            if renamed {
                items.push(self.name_guard_put(&name_guard(&updated.name), id)?);
                items.push(self.name_guard_delete(&name_guard(&old_name), id)?);
            }
            // A new registry must exist: its count's condition says so.
            let mut new_refs = Vec::new();
            let new = (item.src_registry_id, item.dest_registry_id);
            for (registry_id, delta, field) in reference_moves(old_refs, new) {
                if delta > 0 {
                    new_refs.push((items.len(), field, registry_id));
                }
                items.push(self.registry_ref_update(registry_id, delta)?);
            }
            match self.transact(table, items).await? {
                Ok(()) => Ok(Some(item.read())),
                Err(reasons) => {
                    if renamed && reasons.get(1) == Some(&true) {
                        return Err(StoreError::DuplicateName {
                            entity: "policy",
                            name: updated.name,
                        });
                    }
                    for (index, field, registry_id) in new_refs {
                        if reasons.get(index) == Some(&true) {
                            return Err(missing_registry(field, registry_id));
                        }
                    }
                    Ok(None)
                }
            }
        })
        .await
    }

    async fn delete_policy(&self, id: i64) -> Result<(), StoreError> {
        let table = &self.tables.policies;
        optimistic("policy", id, || async move {
            let current = self.policy_item(id).await?;
            let mut items = vec![
                delete(
                    table,
                    key_id(id),
                    "version = :v",
                    vec![(":v", n(current.version))],
                )?,
                self.name_guard_delete(&name_guard(&current.policy.name), id)?,
            ];
            for registry_id in [current.src_registry_id, current.dest_registry_id] {
                if registry_id != 0 {
                    items.push(self.registry_ref_update(registry_id, -1)?);
                }
            }
            Ok(self.transact(table, items).await?.ok())
        })
        .await
    }

    async fn list_policies(
        &self,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<Page<ReplicationPolicy>, StoreError> {
        let page: Page<PolicyItem> = self
            .query_page(PageQuery::all(&self.tables.policies, true), cursor, limit)
            .await?;
        Ok(page.map(PolicyItem::read))
    }
}

#[cfg(test)]
mod tests {
    use super::reference_moves;

    #[test]
    fn reference_counts_move_for_registries_that_changed() {
        assert_eq!(reference_moves((1, 2), (1, 2)), vec![]);
        assert_eq!(
            reference_moves((1, 2), (2, 1)),
            vec![],
            "a swap moves nothing"
        );
        assert_eq!(
            reference_moves((1, 2), (3, 2)),
            vec![(3, 1, "src_registry.id"), (1, -1, "src_registry.id")]
        );
        assert_eq!(
            reference_moves((0, 2), (4, 2)),
            vec![(4, 1, "src_registry.id")]
        );
    }
}
