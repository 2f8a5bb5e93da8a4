//! The key check and the re-sealing of every stored secret, as the macro
//! [`sql_secret_store!`]: inherent methods of a backend's store that its
//! [`CatalogStore`](super::CatalogStore) methods (see `store_macro.rs`) call,
//! kept apart because a rotation is one transaction over several tables.

/// Implements the key-check and rotation methods for a backend struct with
/// fields `pool` (an `sqlx::Pool` of that backend) and `cipher`.
macro_rules! sql_secret_store {
    ($store:ty, $backend:expr) => {
        const _: () = {
            use chrono::{DateTime, Utc};

            use $crate::catalog::key_check::Resealed;
            use $crate::catalog::rows::{self, ServerSecretsRow};
            use $crate::catalog::sql;
            use $crate::error::Result;
            use $crate::secret::Cipher;

            impl $store {
                pub(super) async fn stored_key_check(&self) -> Result<Option<String>> {
                    Ok(sqlx::query_scalar(sql::GET_KEY_CHECK)
                        .fetch_optional(&self.pool)
                        .await?)
                }

                pub(super) async fn record_first_key_check(
                    &self,
                    sealed: &str,
                    at: DateTime<Utc>,
                ) -> Result<String> {
                    sqlx::query(sql::INSERT_KEY_CHECK)
                        .bind(sealed)
                        .bind(sql::stamp(at))
                        .execute(&self.pool)
                        .await?;
                    // Whoever recorded first wins; every process reads the winner.
                    let stored: String = sqlx::query_scalar(sql::GET_KEY_CHECK)
                        .fetch_one(&self.pool)
                        .await?;
                    Ok(stored)
                }

                pub(super) async fn one_sealed_value(&self) -> Result<Option<String>> {
                    let credential: Option<String> =
                        sqlx::query_scalar(sql::ANY_SEALED_OAUTH_CREDENTIAL)
                            .fetch_optional(&self.pool)
                            .await?;
                    if credential.is_some() {
                        return Ok(credential);
                    }
                    Ok(
                        sqlx::query_as::<_, ServerSecretsRow>(sql::ANY_SERVER_WITH_SECRETS)
                            .fetch_optional(&self.pool)
                            .await?
                            .and_then(ServerSecretsRow::first_sealed),
                    )
                }

                pub(super) async fn reseal_everything(
                    &self,
                    cipher: &Cipher,
                    key_check: &str,
                    at: DateTime<Utc>,
                ) -> Result<Resealed> {
                    let mut tx = self.pool.begin().await?;
                    sqlx::query(sql::rotation_lock($backend))
                        .execute(&mut *tx)
                        .await?;
                    let mut counts = Resealed::default();
                    let servers = sqlx::query_as::<_, ServerSecretsRow>(sql::SERVER_SECRETS)
                        .fetch_all(&mut *tx)
                        .await?;
                    for row in servers {
                        let id = row.id.clone();
                        let sealed = row.reseal(cipher, &mut counts)?;
                        sqlx::query(sql::RESEAL_SERVER)
                            .bind(id)
                            .bind(&sealed.headers)
                            .bind(&sealed.env)
                            .bind(&sealed.oauth_client)
                            .execute(&mut *tx)
                            .await?;
                    }
                    let credentials =
                        sqlx::query_as::<_, (String, String, String)>(sql::OAUTH_CREDENTIALS)
                            .fetch_all(&mut *tx)
                            .await?;
                    for (user, server, sealed) in credentials {
                        let resealed = rows::reseal_value(cipher, &sealed, || {
                            format!("the OAuth credentials of user `{user}` for server {server}")
                        })?;
                        sqlx::query(sql::RESEAL_OAUTH_CREDENTIALS)
                            .bind(&user)
                            .bind(&server)
                            .bind(resealed)
                            .execute(&mut *tx)
                            .await?;
                        counts.oauth_credentials += 1;
                    }
                    sqlx::query(sql::PUT_KEY_CHECK)
                        .bind(key_check)
                        .bind(sql::stamp(at))
                        .execute(&mut *tx)
                        .await?;
                    // Dropping `tx` on an error above rolls everything back.
                    tx.commit().await?;
                    Ok(counts)
                }
            }
        };
    };
}

pub(super) use sql_secret_store;
