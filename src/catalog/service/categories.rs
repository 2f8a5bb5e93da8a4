//! Category operations of [`CatalogService`]: create, read, list, count,
//! change and delete. Anyone may read categories; only admins change them.

use crate::catalog::events::{CatalogAction, CatalogEvent};
use crate::catalog::input::{CategoryPatch, NewCategory};
use crate::catalog::model::Category;
use crate::catalog::{CategoryQuery, validate};
use crate::error::Result;
use crate::ids::CategoryId;
use crate::principal::Principal;

use super::{
    CatalogService, ListParams, Page, category_not_found, decode_cursor, limit, now, page,
};

impl CatalogService {
    /// Creates a category (admins).
    #[tracing::instrument(skip_all, fields(user = %principal.user_id))]
    pub async fn create_category(
        &self,
        principal: &Principal,
        input: NewCategory,
    ) -> Result<Category> {
        principal.require_admin("create categories")?;
        let at = now();
        let category = Category {
            id: CategoryId::generate(),
            name: validate::category_name(&input.name)?,
            icon: validate::icon(input.icon.as_deref())?,
            color: validate::color(input.color.as_deref())?,
            description: validate::text(
                "description",
                input.description.as_deref(),
                validate::MAX_DESCRIPTION,
            )?,
            created_at: at,
            updated_at: at,
        };
        self.store.insert_category(&category).await?;
        tracing::info!(category = %category.id, "category created");
        self.changed(
            principal,
            CatalogEvent::category(&category.id, CatalogAction::Created),
        );
        Ok(category)
    }

    /// One category (any principal).
    pub async fn get_category(&self, _principal: &Principal, id: &str) -> Result<Category> {
        let id = CategoryId::parse(id).map_err(|_| category_not_found())?;
        self.store
            .get_category(&id)
            .await?
            .ok_or_else(category_not_found)
    }

    /// A page of categories ordered by name (any principal).
    pub async fn list_categories(
        &self,
        _principal: &Principal,
        params: &ListParams,
    ) -> Result<Page<Category>> {
        let limit = limit(params)?;
        let query = CategoryQuery {
            search: params.search.clone().filter(|s| !s.trim().is_empty()),
            after: decode_cursor(params.cursor.as_deref())?,
            limit: limit + 1,
        };
        let items = self.store.list_categories(&query).await?;
        Ok(page(items, limit, |c| c.name.to_lowercase()))
    }

    /// How many categories match `search`.
    pub async fn count_categories(
        &self,
        _principal: &Principal,
        search: Option<&str>,
    ) -> Result<u64> {
        self.store
            .count_categories(search.filter(|s| !s.trim().is_empty()))
            .await
    }

    /// Changes some fields of a category (admins).
    #[tracing::instrument(skip_all, fields(user = %principal.user_id, category = id))]
    pub async fn update_category(
        &self,
        principal: &Principal,
        id: &str,
        patch: CategoryPatch,
    ) -> Result<Category> {
        principal.require_admin("change categories")?;
        let mut category = self.get_category(principal, id).await?;
        if let Some(name) = patch.name {
            category.name = validate::category_name(&name)?;
        }
        if let Some(icon) = patch.icon {
            category.icon = validate::icon(icon.as_deref())?;
        }
        if let Some(color) = patch.color {
            category.color = validate::color(color.as_deref())?;
        }
        if let Some(description) = patch.description {
            category.description =
                validate::text("description", Some(&description), validate::MAX_DESCRIPTION)?;
        }
        category.updated_at = now();
        self.store.update_category(&category).await?;
        self.changed(
            principal,
            CatalogEvent::category(&category.id, CatalogAction::Updated),
        );
        Ok(category)
    }

    /// Deletes a category; its servers become uncategorised (admins).
    #[tracing::instrument(skip_all, fields(user = %principal.user_id, category = id))]
    pub async fn delete_category(&self, principal: &Principal, id: &str) -> Result<()> {
        principal.require_admin("delete categories")?;
        let id = CategoryId::parse(id).map_err(|_| category_not_found())?;
        if self.store.delete_category(&id).await? {
            tracing::info!("category deleted");
            self.changed(
                principal,
                CatalogEvent::category(&id, CatalogAction::Deleted),
            );
            Ok(())
        } else {
            Err(category_not_found())
        }
    }
}
