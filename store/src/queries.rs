//! The queries of the metadata store, written once for SQLite and PostgreSQL: the macro below
//! expands to the [`MetaStore`](super::MetaStore) implementation of each store, with that
//! store's sqlx types. SQL here is the part both speak: `$1` parameters, `ON CONFLICT`,
//! `RETURNING`, `CAST(... AS BIGINT)`, no store-only functions. What the stores do differently
//! comes in as arguments (`for_update`) or as methods of their own (`extra`).

/// Expands to `impl MetaStore for $store` over `$db` (`sqlx::Sqlite` or `sqlx::Postgres`).
/// `$store` has a `pool: sqlx::Pool<$db>`; `for_update` is the row-lock clause of the store
/// (empty on SQLite, where a writing transaction already excludes other writers); `extra`
/// holds the methods each store writes in its own SQL.
macro_rules! meta_store {
    ($store:ty, $db:ty, for_update = $for_update:literal, { $($extra:tt)* }) => {
        #[async_trait::async_trait]
        impl MetaStore for $store {
            $($extra)*

        // ---- users, sessions, tokens -------------------------------------------------------

        async fn insert_user(&self, username: &str, password_hash: &str) -> DbResult<i64> {
            sqlx::query_scalar("INSERT INTO users (username, password_hash, created_at) VALUES ($1, $2, $3) RETURNING id")
                .bind(username)
                .bind(password_hash)
                .bind(now())
                .fetch_one(&self.pool)
                .await
                .map_err(DbError::from_sqlx)
        }

        async fn user_by_name(&self, username: &str) -> DbResult<User> {
            sqlx::query_as::<_, UserRow>("SELECT id, username, password_hash, disabled_at FROM users WHERE username = $1")
                .bind(username)
                .fetch_one(&self.pool)
                .await
                .map(User::from)
                .map_err(DbError::from_sqlx)
        }

        async fn user_by_id(&self, id: i64) -> DbResult<User> {
            sqlx::query_as::<_, UserRow>("SELECT id, username, password_hash, disabled_at FROM users WHERE id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await
                .map(User::from)
                .map_err(DbError::from_sqlx)
        }

        async fn insert_token(&self, token_hash: &str, owner: TokenOwner) -> DbResult<()> {
            let (user_id, project_id, build_id) = match owner {
                TokenOwner::User(id) => (Some(id), None, None),
                TokenOwner::Project(id) => (None, Some(id), None),
                TokenOwner::Build { project_id, build_id } => (None, Some(project_id), Some(build_id)),
            };
            sqlx::query(
                "INSERT INTO tokens (token_hash, user_id, project_id, build_id, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(token_hash)
            .bind(user_id)
            .bind(project_id)
            .bind(build_id)
            .bind(now())
            .execute(&self.pool)
            .await
            .map_err(DbError::from_sqlx)?;
            Ok(())
        }

        async fn token_owner(&self, token_hash: &str) -> DbResult<(i64, TokenOwner, Option<i64>)> {
            let row: TokenRow = sqlx::query_as(
                "SELECT t.id, t.user_id, t.project_id, t.build_id, t.last_used_at FROM tokens t
                 LEFT JOIN users u ON u.id = t.user_id
                 WHERE t.token_hash = $1 AND u.disabled_at IS NULL",
            )
            .bind(token_hash)
            .fetch_one(&self.pool)
            .await
            .map_err(DbError::from_sqlx)?;
            Ok((row.id, row.owner().ok_or(DbError::NotFound)?, row.last_used_at))
        }

        async fn delete_token(&self, token_hash: &str) -> DbResult<()> {
            let done = sqlx::query("DELETE FROM tokens WHERE token_hash = $1").bind(token_hash).execute(&self.pool).await?;
            if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
        }

        async fn insert_session(&self, token_hash: &str, user_id: i64, expires_at: i64) -> DbResult<()> {
            sqlx::query("INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, $3)")
                .bind(token_hash)
                .bind(user_id)
                .bind(expires_at)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn session_user(&self, token_hash: &str) -> DbResult<i64> {
            sqlx::query_scalar("SELECT s.user_id FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.disabled_at IS NULL")
                .bind(token_hash)
                .bind(now())
                .fetch_one(&self.pool)
                .await
                .map_err(DbError::from_sqlx)
        }

        async fn delete_session(&self, token_hash: &str) -> DbResult<()> {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1 OR expires_at <= $2")
                .bind(token_hash)
                .bind(now())
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        // ---- projects -----------------------------------------------------------------------

        async fn insert_project(&self, slug: &ProjectSlug, public: bool) -> DbResult<i64> {
            sqlx::query_scalar(
                "INSERT INTO projects (vcs_type, org, repo, public, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(slug.vcs.as_str())
            .bind(&slug.org)
            .bind(&slug.repo)
            .bind(public)
            .bind(now())
            .fetch_one(&self.pool)
            .await
            .map_err(DbError::from_sqlx)
        }

        async fn set_project_public(&self, project_id: i64, public: bool) -> DbResult<()> {
            sqlx::query("UPDATE projects SET public = $1 WHERE id = $2")
                .bind(public)
                .bind(project_id)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn project_by_slug(&self, slug: &ProjectSlug) -> DbResult<Project> {
            sqlx::query_as::<_, ProjectRow>(
                "SELECT id, vcs_type, org, repo, public FROM projects WHERE vcs_type = $1 AND org = $2 AND repo = $3",
            )
            .bind(slug.vcs.as_str())
            .bind(&slug.org)
            .bind(&slug.repo)
            .fetch_one(&self.pool)
            .await
            .map(Project::from)
            .map_err(DbError::from_sqlx)
        }

        async fn project_by_id(&self, id: i64) -> DbResult<Project> {
            sqlx::query_as::<_, ProjectRow>("SELECT id, vcs_type, org, repo, public FROM projects WHERE id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await
                .map(Project::from)
                .map_err(DbError::from_sqlx)
        }

        /// Projects a viewer may see: public ones, and those the user is a member of.
        async fn visible_projects(&self, user_id: Option<i64>) -> DbResult<Vec<Project>> {
            let rows: Vec<ProjectRow> = sqlx::query_as(
                "SELECT id, vcs_type, org, repo, public FROM projects p
                 WHERE public OR EXISTS (
                     SELECT 1 FROM project_members m WHERE m.project_id = p.id AND m.user_id = $1)
                 ORDER BY org, repo, vcs_type",
            )
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.into_iter().map(Project::from).collect())
        }

        async fn insert_member(&self, project_id: i64, user_id: i64) -> DbResult<()> {
            sqlx::query("INSERT INTO project_members (project_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(project_id)
                .bind(user_id)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn is_member(&self, project_id: i64, user_id: i64) -> DbResult<bool> {
            let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM project_members WHERE project_id = $1 AND user_id = $2")
                .bind(project_id)
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?;
            Ok(found > 0)
        }

        // ---- builds -------------------------------------------------------------------------

        /// Creates the next build of a project. The number comes from the project's counter,
        /// taken under its row's lock in the same transaction: servers starting builds at once
        /// wait for each other and never pick the same number.
        async fn insert_build(&self, project_id: i64, new: &NewBuild) -> DbResult<Build> {
            let mut tx = self.begin_write().await?;
            let num: i64 =
                sqlx::query_scalar("UPDATE projects SET last_build_num = last_build_num + 1 WHERE id = $1 RETURNING last_build_num")
                    .bind(project_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(DbError::from_sqlx)?;
            let row: BuildRow = sqlx::query_as(concat!(
                "INSERT INTO builds (project_id, build_num, branch, revision, status, parallelism, start_time)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 RETURNING ",
                build_columns!(),
            ))
            .bind(project_id)
            .bind(num)
            .bind(&new.branch)
            .bind(&new.revision)
            .bind(BuildStatus::Running.as_str())
            .bind(new.parallelism)
            .bind(now())
            .fetch_one(&mut *tx)
            .await
            .map_err(DbError::from_sqlx)?;
            tx.commit().await?;
            Ok(row.into())
        }

        async fn build(&self, project_id: i64, num: BuildNum) -> DbResult<Build> {
            sqlx::query_as::<_, BuildRow>(concat!(
                "SELECT ",
                build_columns!(),
                " FROM builds WHERE project_id = $1 AND build_num = $2",
            ))
            .bind(project_id)
            .bind(num.0)
            .fetch_one(&self.pool)
            .await
            .map(Build::from)
            .map_err(DbError::from_sqlx)
        }

        /// Newest first; `branch` and `statuses` narrow the list when given.
        async fn builds(
            &self,
            project_id: i64,
            branch: Option<&str>,
            statuses: Option<&[BuildStatus]>,
            limit: i64,
            offset: i64,
        ) -> DbResult<Vec<Build>> {
            let mut q: QueryBuilder<$db> =
                QueryBuilder::new(concat!("SELECT ", build_columns!(), " FROM builds WHERE project_id = "));
            q.push_bind(project_id);
            if let Some(branch) = branch {
                q.push(" AND branch = ").push_bind(branch.to_owned());
            }
            if let Some(statuses) = statuses {
                q.push(" AND status IN (");
                let mut list = q.separated(", ");
                for s in statuses {
                    list.push_bind(s.as_str());
                }
                q.push(")");
            }
            q.push(" ORDER BY build_num DESC LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
            let rows: Vec<BuildRow> = q.build_query_as().fetch_all(&self.pool).await?;
            Ok(rows.into_iter().map(Build::from).collect())
        }

        /// Records that a node finished; when it was the build's last node, closes the build with
        /// the status of all its nodes (a failure anywhere wins). One transaction, so two nodes
        /// finishing at once cannot both miss being last.
        async fn finish_node(&self, build: &Build, node: NodeIndex, status: BuildStatus) -> DbResult<NodeFinish> {
            let mut tx = self.begin_write().await?;
            // Nodes of one build finish one at a time (on PostgreSQL, under the build row's lock),
            // so the last one always sees every other.
            sqlx::query(concat!("SELECT id FROM builds WHERE id = $1", $for_update))
                .bind(build.id)
                .fetch_optional(&mut *tx)
                .await?;
            let inserted = sqlx::query(
                "INSERT INTO build_nodes (build_id, node_index, status, finished_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
            )
            .bind(build.id)
            .bind(node.0)
            .bind(status.as_str())
            .bind(now())
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                let earlier: String =
                    sqlx::query_scalar("SELECT status FROM build_nodes WHERE build_id = $1 AND node_index = $2")
                        .bind(build.id)
                        .bind(node.0)
                        .fetch_one(&mut *tx)
                        .await?;
                return if earlier == status.as_str() { Ok(NodeFinish::AlreadyFinished) } else { Err(DbError::Conflict) };
            }
            let statuses: Vec<String> = sqlx::query_scalar("SELECT status FROM build_nodes WHERE build_id = $1")
                .bind(build.id)
                .fetch_all(&mut *tx)
                .await?;
            let outcome = if statuses.len() as i64 >= build.parallelism {
                let parsed: Vec<BuildStatus> = statuses.iter().filter_map(|s| <BuildStatus as std::str::FromStr>::from_str(s).ok()).collect();
                let overall = if parsed.contains(&BuildStatus::Failed) {
                    BuildStatus::Failed
                } else {
                    parsed.into_iter().find(|s| *s != BuildStatus::Success).unwrap_or(BuildStatus::Success)
                };
                sqlx::query("UPDATE builds SET status = $1, stop_time = $2 WHERE id = $3 AND status = $4")
                    .bind(overall.as_str())
                    .bind(now())
                    .bind(build.id)
                    .bind(BuildStatus::Running.as_str())
                    .execute(&mut *tx)
                    .await?;
                NodeFinish::Closed(overall)
            } else {
                NodeFinish::Recorded
            };
            tx.commit().await?;
            Ok(outcome)
        }

        /// The nodes of a build that finished.
        async fn finished_nodes(&self, build_id: i64) -> DbResult<HashSet<i64>> {
            let nodes: Vec<i64> = sqlx::query_scalar("SELECT node_index FROM build_nodes WHERE build_id = $1")
                .bind(build_id)
                .fetch_all(&self.pool)
                .await?;
            Ok(nodes.into_iter().collect())
        }

        /// Removes the own tokens of builds that are closed (they can do nothing any more).
        async fn delete_closed_build_tokens(&self) -> DbResult<u64> {
            let done = sqlx::query("DELETE FROM tokens WHERE build_id IN (SELECT id FROM builds WHERE status <> $1)")
                .bind(BuildStatus::Running.as_str())
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected())
        }

        /// Closes builds still running that started before `started_before`, as `timedout`.
        async fn time_out_builds(&self, started_before: i64) -> DbResult<u64> {
            let done = sqlx::query("UPDATE builds SET status = $1, stop_time = $2 WHERE status = $3 AND start_time < $4")
                .bind(BuildStatus::Timedout.as_str())
                .bind(now())
                .bind(BuildStatus::Running.as_str())
                .bind(started_before)
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected())
        }

        // ---- artifacts, uploads, blobs ------------------------------------------------------

        async fn artifacts(&self, build_id: i64) -> DbResult<Vec<Artifact>> {
            let rows: Vec<ArtifactRow> = sqlx::query_as(
                concat!("SELECT ", artifact_columns!(), "
                 FROM artifacts a
                 WHERE a.build_id = $1 ORDER BY a.node_index, a.pretty_path"),
            )
            .bind(build_id)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.into_iter().map(Artifact::from).collect())
        }

        /// A page of artifacts after `(node, path)` in listing order, for keyset paging (API v2).
        async fn artifacts_page(
            &self,
            build_id: i64,
            after: Option<(i64, &str)>,
            limit: i64,
        ) -> DbResult<Vec<Artifact>> {
            let (node, path) = after.unwrap_or((-1, ""));
            let rows: Vec<ArtifactRow> = sqlx::query_as(
                concat!("SELECT ", artifact_columns!(), "
                 FROM artifacts a
                 WHERE a.build_id = $1 AND (a.node_index > $2 OR (a.node_index = $2 AND a.pretty_path > $3))
                 ORDER BY a.node_index, a.pretty_path LIMIT $4"),
            )
            .bind(build_id)
            .bind(node)
            .bind(path)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.into_iter().map(Artifact::from).collect())
        }

        async fn artifact_counts(&self, build_id: i64) -> DbResult<Vec<(i64, i64)>> {
            Ok(sqlx::query_as(
                "SELECT node_index, COUNT(*) FROM artifacts WHERE build_id = $1 GROUP BY node_index ORDER BY node_index",
            )
            .bind(build_id)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn artifacts_between(
            &self,
            build_id: i64,
            node: i64,
            from: &str,
            before: &str,
            limit: i64,
        ) -> DbResult<Vec<Artifact>> {
            let rows: Vec<ArtifactRow> = sqlx::query_as(concat!(
                "SELECT ",
                artifact_columns!(),
                " FROM artifacts a WHERE a.build_id = $1 AND a.node_index = $2 AND a.pretty_path >= $3 AND a.pretty_path < $4
                 ORDER BY a.pretty_path LIMIT $5"
            ))
            .bind(build_id)
            .bind(node)
            .bind(from)
            .bind(before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.into_iter().map(Artifact::from).collect())
        }

        async fn count_between(&self, build_id: i64, node: i64, from: &str, before: &str) -> DbResult<i64> {
            Ok(sqlx::query_scalar(
                "SELECT COUNT(*) FROM artifacts WHERE build_id = $1 AND node_index = $2 AND pretty_path >= $3 AND pretty_path < $4",
            )
            .bind(build_id)
            .bind(node)
            .bind(from)
            .bind(before)
            .fetch_one(&self.pool)
            .await?)
        }

        async fn artifacts_of_kind(
            &self,
            build_id: i64,
            kind: ArtifactKind,
            after: Option<(i64, &str)>,
            limit: i64,
        ) -> DbResult<Vec<Artifact>> {
            let (node, path) = after.unwrap_or((-1, ""));
            // Each kind's condition as its partial index states it: a store uses a partial
            // index only for a query that states the index's own condition.
            let sql = match kind {
                ArtifactKind::Image => artifacts_of_kind!("a.content_type LIKE 'image/%'"),
                ArtifactKind::Page => artifacts_of_kind!("a.content_type LIKE 'text/html%'"),
            };
            let rows: Vec<ArtifactRow> = sqlx::query_as(sql)
            .bind(build_id)
            .bind(node)
            .bind(path)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.into_iter().map(Artifact::from).collect())
        }

        async fn artifact(&self, build_id: i64, node: NodeIndex, pretty_path: &str) -> DbResult<Artifact> {
            sqlx::query_as::<_, ArtifactRow>(
                concat!("SELECT ", artifact_columns!(), "
                 FROM artifacts a
                 WHERE a.build_id = $1 AND a.node_index = $2 AND a.pretty_path = $3"),
            )
            .bind(build_id)
            .bind(node.0)
            .bind(pretty_path)
            .fetch_one(&self.pool)
            .await
            .map(Artifact::from)
            .map_err(DbError::from_sqlx)
        }

        /// Verified objects of this project with the given contents, by `(sha256, size)`. Only
        /// the project's own: what a plan answers never depends on another project's content.
        async fn project_blobs(
            &self,
            project_id: i64,
            contents: &[(&str, i64)],
        ) -> DbResult<HashMap<(String, i64), String>> {
            let mut found = HashMap::new();
            for chunk in contents.chunks(500) {
                let mut q: QueryBuilder<$db> =
                    QueryBuilder::new("SELECT sha256, s3_key, size FROM blobs WHERE project_id = ");
                q.push_bind(project_id).push(" AND sha256 IN (");
                let mut list = q.separated(", ");
                for (sha256, _) in chunk {
                    list.push_bind(*sha256);
                }
                q.push(")");
                let blobs: Vec<BlobRow> = q.build_query_as().fetch_all(&self.pool).await?;
                for blob in blobs {
                    found.entry((blob.sha256, blob.size)).or_insert(blob.s3_key);
                }
            }
            Ok(found)
        }

        /// Which of `sizes` a verified object of this project has (for files declared without a
        /// SHA-256: only a size the project keeps can be content it keeps).
        async fn project_blob_sizes(&self, project_id: i64, sizes: &[i64]) -> DbResult<HashSet<i64>> {
            let mut found = HashSet::new();
            for chunk in sizes.chunks(500) {
                let mut q: QueryBuilder<$db> = QueryBuilder::new("SELECT DISTINCT size FROM blobs WHERE project_id = ");
                q.push_bind(project_id).push(" AND size IN (");
                let mut list = q.separated(", ");
                for size in chunk {
                    list.push_bind(*size);
                }
                q.push(")");
                let rows: Vec<(i64,)> = q.build_query_as().fetch_all(&self.pool).await?;
                found.extend(rows.into_iter().map(|(size,)| size));
            }
            Ok(found)
        }

        /// The content (`sha256`, `size`) of the given paths already listed for a node.
        async fn listed_contents(
            &self,
            build_id: i64,
            node: NodeIndex,
            paths: &[&str],
        ) -> DbResult<HashMap<String, (String, i64)>> {
            let mut found = HashMap::new();
            for chunk in paths.chunks(500) {
                let mut q: QueryBuilder<$db> =
                    QueryBuilder::new("SELECT pretty_path, sha256, size FROM artifacts WHERE build_id = ");
                q.push_bind(build_id).push(" AND node_index = ").push_bind(node.0).push(" AND pretty_path IN (");
                let mut list = q.separated(", ");
                for path in chunk {
                    list.push_bind(*path);
                }
                q.push(")");
                let rows: Vec<(String, String, i64)> = q.build_query_as().fetch_all(&self.pool).await?;
                found.extend(rows.into_iter().map(|(path, sha256, size)| (path, (sha256, size))));
            }
            Ok(found)
        }

        /// Listed artifacts plus uploads still pending in a build: what counts against its limit.
        async fn build_entry_count(&self, build_id: i64) -> DbResult<i64> {
            Ok(sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM artifacts WHERE build_id = $1)
                      + (SELECT COUNT(*) FROM uploads WHERE build_id = $1 AND verified_at IS NULL AND expires_at > $2)",
            )
            .bind(build_id)
            .bind(now())
            .fetch_one(&self.pool)
            .await?)
        }

        /// Records a plan in one transaction: content the project already keeps is listed at
        /// once, the rest becomes pending uploads. A few statements per batch, not per file.
        async fn record_plan(
            &self,
            build_id: i64,
            reused: &[(NewArtifact, String)],
            uploads: &[Upload],
        ) -> DbResult<()> {
            let mut tx = self.begin_write().await?;
            let listed: Vec<(&NewArtifact, &str)> = reused.iter().map(|(a, key)| (a, key.as_str())).collect();
            Self::upsert_artifacts(&mut tx, build_id, &listed).await?;
            let created_at = now();
            for chunk in uploads.chunks(ROWS_PER_STATEMENT) {
                let mut q: QueryBuilder<$db> = QueryBuilder::new(
                    "INSERT INTO uploads (id, build_id, node_index, path, pretty_path, size, sha256, content_type,
                                          s3_key, multipart_id, part_sha256, expires_at, created_at) ",
                );
                q.push_values(chunk, |mut row, u| {
                    row.push_bind(&u.id)
                        .push_bind(u.build_id)
                        .push_bind(u.artifact.node_index)
                        .push_bind(&u.artifact.path)
                        .push_bind(&u.artifact.pretty_path)
                        .push_bind(u.artifact.size)
                        .push_bind(&u.artifact.sha256)
                        .push_bind(&u.artifact.content_type)
                        .push_bind(&u.s3_key)
                        .push_bind(&u.multipart_id)
                        .push_bind(u.part_sha256.join(","))
                        .push_bind(u.expires_at)
                        .push_bind(created_at);
                });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        }

        /// Records verified uploads in one transaction: each object becomes a blob of the project,
        /// its artifact is listed (replacing one at the same path), the upload is marked verified.
        async fn record_verified(&self, verified: &[(Upload, String)], project_id: i64) -> DbResult<()> {
            if verified.is_empty() {
                return Ok(());
            }
            let mut tx = self.begin_write().await?;
            let at = now();
            for chunk in verified.chunks(ROWS_PER_STATEMENT) {
                let mut q: QueryBuilder<$db> =
                    QueryBuilder::new("INSERT INTO blobs (s3_key, sha256, size, project_id, created_at) ");
                q.push_values(chunk, |mut row, (upload, key)| {
                    row.push_bind(key)
                        .push_bind(&upload.artifact.sha256)
                        .push_bind(upload.artifact.size)
                        .push_bind(project_id)
                        .push_bind(at);
                });
                q.push(" ON CONFLICT DO NOTHING");
                q.build().execute(&mut *tx).await?;
            }
            let mut by_build: HashMap<i64, Vec<(&NewArtifact, &str)>> = HashMap::new();
            for (upload, key) in verified {
                by_build.entry(upload.build_id).or_default().push((&upload.artifact, key.as_str()));
            }
            for (build_id, listed) in by_build {
                Self::upsert_artifacts(&mut tx, build_id, &listed).await?;
            }
            for chunk in verified.chunks(ROWS_PER_STATEMENT) {
                let mut q: QueryBuilder<$db> = QueryBuilder::new("UPDATE uploads SET verified_at = ");
                q.push_bind(at).push(", blob_key = CASE id");
                for (upload, key) in chunk {
                    q.push(" WHEN ").push_bind(&upload.id).push(" THEN ").push_bind(key);
                }
                q.push(" END WHERE id IN (");
                let mut ids = q.separated(", ");
                for (upload, _) in chunk {
                    ids.push_bind(&upload.id);
                }
                q.push(")");
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        }

        /// The uploads of a build with these ids, by id (unknown ids are left out).
        async fn uploads(&self, build_id: i64, ids: &[&str]) -> DbResult<HashMap<String, Upload>> {
            let mut found = HashMap::with_capacity(ids.len());
            for chunk in ids.chunks(500) {
                let mut q: QueryBuilder<$db> = QueryBuilder::new(UPLOAD_COLUMNS);
                q.push(" WHERE build_id = ").push_bind(build_id).push(" AND id IN (");
                let mut list = q.separated(", ");
                for id in chunk {
                    list.push_bind(*id);
                }
                q.push(")");
                let rows: Vec<UploadRow> = q.build_query_as().fetch_all(&self.pool).await?;
                found.extend(rows.into_iter().map(|r| {
                    let u = Upload::from(r);
                    (u.id.clone(), u)
                }));
            }
            Ok(found)
        }

        async fn delete_upload(&self, id: &str) -> DbResult<()> {
            sqlx::query("DELETE FROM uploads WHERE id = $1").bind(id).execute(&self.pool).await?;
            Ok(())
        }

        /// Pending uploads whose URLs expired before `before`: never completed, to be removed.
        async fn abandoned_uploads(&self, before: i64, limit: i64) -> DbResult<Vec<Upload>> {
            let rows: Vec<UploadRow> = sqlx::query_as(&format!(
                "{UPLOAD_COLUMNS} WHERE verified_at IS NULL AND expires_at < $1 ORDER BY expires_at LIMIT $2"
            ))
            .bind(before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            Ok(rows.into_iter().map(Upload::from).collect())
        }

        /// Receipts of verified uploads whose URLs expired before `before` (they served retried
        /// confirmations): the upload id, its upload key, and the key its bytes are kept under.
        async fn expired_receipts(&self, before: i64, limit: i64) -> DbResult<Vec<(String, String, String)>> {
            Ok(sqlx::query_as(
                "SELECT id, s3_key, COALESCE(blob_key, s3_key) FROM uploads
                 WHERE verified_at IS NOT NULL AND expires_at < $1 ORDER BY expires_at LIMIT $2",
            )
            .bind(before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
        }

        /// How many listed artifacts point at the stored objects with this content.
        async fn blob_refs(&self, sha256: &str) -> DbResult<i64> {
            Ok(sqlx::query_scalar("SELECT CAST(COALESCE(SUM(refs), 0) AS BIGINT) FROM blobs WHERE sha256 = $1")
                .bind(sha256)
                .fetch_one(&self.pool)
                .await?)
        }

        /// How many rows the upload bookkeeping holds (for tests and metrics).
        async fn pending_upload_count(&self) -> DbResult<i64> {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM uploads WHERE verified_at IS NULL").fetch_one(&self.pool).await?)
        }

            async fn tokens(&self, user_id: Option<i64>, project_id: Option<i64>) -> DbResult<Vec<TokenInfo>> {
                let rows: Vec<TokenInfoRow> = sqlx::query_as(
                    "SELECT t.id, t.user_id, t.project_id, t.build_id, t.created_at, t.last_used_at,
                            u.username, p.vcs_type, p.org, p.repo, b.build_num
                     FROM tokens t
                     LEFT JOIN users u ON u.id = t.user_id
                     LEFT JOIN projects p ON p.id = t.project_id
                     LEFT JOIN builds b ON b.id = t.build_id
                     WHERE ($1 IS NULL OR t.user_id = $1) AND ($2 IS NULL OR t.project_id = $2)
                     ORDER BY t.id",
                )
                .bind(user_id)
                .bind(project_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().filter_map(TokenInfoRow::info).collect())
            }

            async fn token_by_id(&self, id: i64) -> DbResult<TokenOwner> {
                let row: TokenRow = sqlx::query_as(
                    "SELECT t.id, t.user_id, t.project_id, t.build_id, t.last_used_at FROM tokens t
                     LEFT JOIN users u ON u.id = t.user_id
                     WHERE t.id = $1 AND u.disabled_at IS NULL",
                )
                .bind(id)
                .fetch_one(&self.pool)
                .await
                .map_err(DbError::from_sqlx)?;
                row.owner().ok_or(DbError::NotFound)
            }

            async fn build_project(&self, build_id: i64) -> DbResult<i64> {
                sqlx::query_scalar("SELECT project_id FROM builds WHERE id = $1")
                    .bind(build_id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(DbError::from_sqlx)
            }

            async fn read_shared_key(&self, name: &str) -> DbResult<Vec<u8>> {
                sqlx::query_scalar("SELECT key FROM server_keys WHERE name = $1")
                    .bind(name)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(DbError::from_sqlx)
            }

            async fn replace_shared_key(&self, name: &str, key: &[u8]) -> DbResult<()> {
                let done = sqlx::query("UPDATE server_keys SET key = $1, created_at = $2 WHERE name = $3")
                    .bind(key)
                    .bind(now())
                    .bind(name)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 {
                    sqlx::query("INSERT INTO server_keys (name, key, created_at) VALUES ($1, $2, $3)")
                        .bind(name)
                        .bind(key)
                        .bind(now())
                        .execute(&self.pool)
                        .await?;
                }
                Ok(())
            }

            async fn delete_token_by_id(&self, id: i64) -> DbResult<()> {
                let done = sqlx::query("DELETE FROM tokens WHERE id = $1").bind(id).execute(&self.pool).await?;
                if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
            }

            async fn touch_token(&self, token_hash: &str) -> DbResult<()> {
                let now = now();
                sqlx::query(
                    "UPDATE tokens SET last_used_at = $1
                     WHERE token_hash = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
                )
                .bind(now)
                .bind(token_hash)
                .bind(now - 60)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn set_user_disabled(&self, user_id: i64, disabled: bool) -> DbResult<()> {
                sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
                    .bind(disabled.then(now))
                    .bind(user_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn delete_user_sessions(&self, user_id: i64) -> DbResult<u64> {
                let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&self.pool).await?;
                Ok(done.rows_affected())
            }

            async fn delete_member(&self, project_id: i64, user_id: i64) -> DbResult<()> {
                let done = sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2")
                    .bind(project_id)
                    .bind(user_id)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
            }

            async fn purge(&self, project_id: i64, build_id: Option<i64>, pretty_path: Option<&str>) -> DbResult<(u64, u64, u64)> {
                let mut tx = self.begin_write().await?;
                const CHOSEN: &str = "FROM artifacts a JOIN builds b ON b.id = a.build_id
                     WHERE b.project_id = $1 AND ($2 IS NULL OR a.build_id = $2) AND ($3 IS NULL OR a.pretty_path = $3)";
                let keys: Vec<String> = sqlx::query_scalar(&format!("SELECT DISTINCT a.s3_key {CHOSEN}"))
                    .bind(project_id)
                    .bind(build_id)
                    .bind(pretty_path)
                    .fetch_all(&mut *tx)
                    .await?;
                // Caches of these builds' listings go stale with this (see `Build::listing_version`).
                sqlx::query(&format!(
                    "UPDATE builds SET listing_version = listing_version + 1 WHERE id IN (SELECT a.build_id {CHOSEN})"
                ))
                .bind(project_id)
                .bind(build_id)
                .bind(pretty_path)
                .execute(&mut *tx)
                .await?;
                let removed = sqlx::query(&format!("DELETE FROM artifacts WHERE id IN (SELECT a.id {CHOSEN})"))
                    .bind(project_id)
                    .bind(build_id)
                    .bind(pretty_path)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let mut doomed = 0u64;
                for chunk in keys.chunks(ROWS_PER_STATEMENT) {
                    // Gone from `blobs`, an object can no longer be reused by a plan.
                    let mut q: QueryBuilder<$db> = QueryBuilder::new("DELETE FROM blobs WHERE refs <= 0 AND s3_key IN (");
                    let mut list = q.separated(", ");
                    for key in chunk {
                        list.push_bind(key);
                    }
                    q.push(") RETURNING s3_key");
                    let gone: Vec<(String,)> = q.build_query_as().fetch_all(&mut *tx).await?;
                    if gone.is_empty() {
                        continue;
                    }
                    doomed += gone.len() as u64;
                    let at = now();
                    let mut q: QueryBuilder<$db> = QueryBuilder::new("INSERT INTO doomed_objects (s3_key, doomed_at) ");
                    q.push_values(&gone, |mut row, (key,)| {
                        row.push_bind(key).push_bind(at);
                    });
                    q.push(" ON CONFLICT DO NOTHING");
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok((removed, doomed, keys.len() as u64 - doomed))
            }

            async fn set_project_retention(&self, project_id: i64, retention_secs: Option<i64>) -> DbResult<()> {
                let done = sqlx::query("UPDATE projects SET retention_secs = $1 WHERE id = $2")
                    .bind(retention_secs)
                    .bind(project_id)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
            }

            async fn set_default_branch(&self, project_id: i64, branch: Option<&str>) -> DbResult<()> {
                let done = sqlx::query("UPDATE projects SET default_branch = $1 WHERE id = $2")
                    .bind(branch)
                    .bind(project_id)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 { Err(DbError::NotFound) } else { Ok(()) }
            }

            async fn default_branch(&self, project_id: i64) -> DbResult<Option<String>> {
                Ok(sqlx::query_scalar("SELECT default_branch FROM projects WHERE id = $1")
                    .bind(project_id)
                    .fetch_optional(&self.pool)
                    .await?
                    .flatten())
            }

            async fn last_green_before(&self, project_id: i64, branch: &str, before: i64) -> DbResult<Option<Build>> {
                let row: Option<BuildRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    build_columns!(),
                    " FROM builds WHERE project_id = $1 AND branch = $2 AND status = 'success' AND build_num < $3
                      ORDER BY build_num DESC LIMIT 1"
                ))
                .bind(project_id)
                .bind(branch)
                .bind(before)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Build::from))
            }

            async fn set_build_pinned(&self, build_id: i64, pinned: Option<(Option<i64>, i64)>) -> DbResult<()> {
                let (by, at) = match pinned {
                    Some((by, at)) => (by, Some(at)),
                    None => (None, None),
                };
                sqlx::query("UPDATE builds SET pinned_at = $1, pinned_by = $2 WHERE id = $3")
                    .bind(at)
                    .bind(by)
                    .bind(build_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn expired_builds(&self, now: i64, default_secs: i64, limit: i64) -> DbResult<Vec<(i64, i64)>> {
                Ok(sqlx::query_as(
                    "SELECT b.project_id, b.id FROM builds b JOIN projects p ON p.id = b.project_id
                     WHERE b.artifacts_expired_at IS NULL AND b.pinned_at IS NULL AND b.status <> $1
                       AND b.start_time < $2 - COALESCE(p.retention_secs, $3)
                       AND NOT (b.status = $4 AND NOT EXISTS (
                           SELECT 1 FROM builds n
                           WHERE n.project_id = b.project_id AND n.branch = b.branch AND n.status = $4
                             AND n.build_num > b.build_num))
                     ORDER BY b.start_time LIMIT $5",
                )
                .bind(BuildStatus::Running.as_str())
                .bind(now)
                .bind(default_secs)
                .bind(BuildStatus::Success.as_str())
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn mark_artifacts_expired(&self, build_id: i64, at: i64) -> DbResult<()> {
                sqlx::query("UPDATE builds SET artifacts_expired_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(build_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn insert_audit(&self, events: &[AuditEvent]) -> DbResult<()> {
                for chunk in events.chunks(ROWS_PER_STATEMENT) {
                    let mut q: QueryBuilder<$db> = QueryBuilder::new(
                        "INSERT INTO audit_events (at, actor, user_id, token_id, action, project, build_num, detail, client, repeats) ",
                    );
                    q.push_values(chunk, |mut row, e| {
                        row.push_bind(e.at)
                            .push_bind(&e.actor)
                            .push_bind(e.user_id)
                            .push_bind(e.token_id)
                            .push_bind(&e.action)
                            .push_bind(&e.project)
                            .push_bind(e.build_num)
                            .push_bind(&e.detail)
                            .push_bind(&e.client)
                            .push_bind(e.repeats);
                    });
                    q.build().execute(&self.pool).await?;
                }
                Ok(())
            }

            async fn audit_events(&self, project: Option<&str>, since: i64, limit: i64) -> DbResult<Vec<AuditEvent>> {
                type Row = (i64, String, Option<i64>, Option<i64>, String, Option<String>, Option<i64>, String, Option<String>, i64);
                let rows: Vec<Row> = sqlx::query_as(
                    "SELECT at, actor, user_id, token_id, action, project, build_num, detail, client, repeats FROM (
                         SELECT * FROM audit_events WHERE at >= $1 AND ($2 IS NULL OR project = $2)
                         ORDER BY at DESC, id DESC LIMIT $3
                     ) newest ORDER BY at, id",
                )
                .bind(since)
                .bind(project)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(at, actor, user_id, token_id, action, project, build_num, detail, client, repeats)| AuditEvent {
                        at, actor, user_id, token_id, action, project, build_num, detail, client, repeats,
                    })
                    .collect())
            }

            async fn forget_audit(&self, before: i64) -> DbResult<u64> {
                let done = sqlx::query("DELETE FROM audit_events WHERE at < $1").bind(before).execute(&self.pool).await?;
                Ok(done.rows_affected())
            }

            async fn doomed_objects(&self, limit: i64) -> DbResult<Vec<String>> {
                Ok(sqlx::query_scalar("SELECT s3_key FROM doomed_objects ORDER BY doomed_at LIMIT $1")
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn forget_doomed(&self, s3_key: &str) -> DbResult<()> {
                sqlx::query("DELETE FROM doomed_objects WHERE s3_key = $1").bind(s3_key).execute(&self.pool).await?;
                Ok(())
            }

            async fn rate_counts(&self, keys: &[&str], window_after: i64) -> DbResult<HashMap<String, (i64, i64)>> {
                if keys.is_empty() {
                    return Ok(HashMap::new());
                }
                let mut q: QueryBuilder<$db> = QueryBuilder::new("SELECT key, count, window_start FROM rate_limits WHERE window_start > ");
                q.push_bind(window_after).push(" AND key IN (");
                let mut list = q.separated(", ");
                for key in keys {
                    list.push_bind(*key);
                }
                q.push(")");
                let rows: Vec<(String, i64, i64)> = q.build_query_as().fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(|(key, count, start)| (key, (count, start))).collect())
            }

            async fn rate_hit(&self, key: &str, window_after: i64) -> DbResult<(i64, i64)> {
                Ok(sqlx::query_as(
                    "INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, 1)
                     ON CONFLICT (key) DO UPDATE SET
                         count = CASE WHEN rate_limits.window_start <= $3 THEN 1 ELSE rate_limits.count + 1 END,
                         window_start = CASE WHEN rate_limits.window_start <= $3 THEN $2 ELSE rate_limits.window_start END
                     RETURNING count, window_start",
                )
                .bind(key)
                .bind(now())
                .bind(window_after)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn rate_release(&self, key: &str) -> DbResult<()> {
                sqlx::query("UPDATE rate_limits SET count = count - 1 WHERE key = $1 AND count > 0")
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn forget_rate_windows(&self, before: i64) -> DbResult<u64> {
                let done = sqlx::query("DELETE FROM rate_limits WHERE window_start <= $1").bind(before).execute(&self.pool).await?;
                Ok(done.rows_affected())
            }

            async fn shared_key(&self, name: &str, fresh: &[u8]) -> DbResult<Vec<u8>> {
                sqlx::query("INSERT INTO server_keys (name, key, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                    .bind(name)
                    .bind(fresh)
                    .bind(now())
                    .execute(&self.pool)
                    .await?;
                self.read_shared_key(name).await
            }

            async fn ping(&self) -> DbResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }
        }

        impl $store {
        /// Lists artifacts whose objects are verified; the same path stored again replaces it (the
        /// later of two in one call wins). Triggers keep each blob's count of artifacts pointing at it.
        async fn upsert_artifacts(
            conn: &mut <$db as sqlx::Database>::Connection,
            build_id: i64,
            rows: &[(&NewArtifact, &str)],
        ) -> DbResult<()> {
            let mut seen = HashSet::new();
            let mut unique: Vec<&(&NewArtifact, &str)> =
                rows.iter().rev().filter(|(a, _)| seen.insert((a.node_index, a.pretty_path.as_str()))).collect();
            unique.reverse();
            let at = now();
            for chunk in unique.chunks(ROWS_PER_STATEMENT) {
                let mut q: QueryBuilder<$db> = QueryBuilder::new(
                    "INSERT INTO artifacts (build_id, node_index, path, pretty_path, size, sha256, content_type, s3_key, created_at) ",
                );
                q.push_values(chunk, |mut row, (a, key)| {
                    row.push_bind(build_id)
                        .push_bind(a.node_index)
                        .push_bind(&a.path)
                        .push_bind(&a.pretty_path)
                        .push_bind(a.size)
                        .push_bind(&a.sha256)
                        .push_bind(&a.content_type)
                        .push_bind(*key)
                        .push_bind(at);
                });
                q.push(
                    " ON CONFLICT (build_id, node_index, pretty_path) DO UPDATE SET
                         path = excluded.path, size = excluded.size, sha256 = excluded.sha256,
                         content_type = excluded.content_type, s3_key = excluded.s3_key, created_at = excluded.created_at",
                );
                q.build().execute(&mut *conn).await?;
            }
            Ok(())
        }
        }
    };
}

pub(super) use meta_store;

/// The columns a `BuildRow` reads: `concat!("SELECT ", build_columns!(), " FROM builds ...")`.
macro_rules! build_columns {
    () => {
        "id, project_id, build_num, branch, revision, status, parallelism, start_time, stop_time, pinned_at, artifacts_expired_at, listing_version"
    };
}

pub(super) use build_columns;

/// The columns an `ArtifactRow` reads, from `artifacts a`: `concat!("SELECT ", artifact_columns!(), ...)`.
macro_rules! artifact_columns {
    () => {
        "a.id, a.node_index, a.path, a.pretty_path, a.size, a.sha256, a.content_type, a.s3_key"
    };
}

pub(super) use artifact_columns;

/// A page of a build's artifacts of one kind, `$condition` (the kind's partial index's own
/// condition) written into the query.
macro_rules! artifacts_of_kind {
    ($condition:literal) => {
        concat!(
            "SELECT ",
            artifact_columns!(),
            " FROM artifacts a WHERE a.build_id = $1 AND ",
            $condition,
            " AND (a.node_index > $2 OR (a.node_index = $2 AND a.pretty_path > $3))
             ORDER BY a.node_index, a.pretty_path LIMIT $4"
        )
    };
}

pub(super) use artifacts_of_kind;

pub(super) const UPLOAD_COLUMNS: &str =
    "SELECT id, build_id, node_index, path, pretty_path, size, sha256, content_type, s3_key,
        multipart_id, part_sha256, expires_at, verified_at FROM uploads";

/// Rows per multi-row statement: well under SQLite's 32,766 and PostgreSQL's 65,535 bound
/// parameters.
pub(super) const ROWS_PER_STATEMENT: usize = 200;
