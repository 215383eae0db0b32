//! Part of the artifacts feature: a folder of a build (or a whole container) as one zip, written while it is sent: the
//! artifacts are read from S3 one after another, a page of rows at a time, into a bounded
//! pipe. Neither the archive nor a whole build's rows are ever held, in memory or on disk.

use async_zip::base::write::ZipFileWriter;
use async_zip::{Compression, ZipDateTime, ZipEntryBuilder};
use futures::AsyncWriteExt;

use super::Artifacts;
use crate::core::error::{ServiceError, ServiceResult};
use crate::core::folders::{folder_end, just_after};
use crate::core::principal::Principal;
use crate::domain::{BuildRef, FolderPath, NodeIndex, ProjectSlug};
use vitrine_store::{Artifact, BuildId};

/// Rows read from the index at a time while a zip is written.
const ZIP_PAGE: i64 = 500;
/// How far the writer may run ahead of the client.
const PIPE_BYTES: usize = 256 * 1024;

/// A zip on its way: its file name and its bytes as they are written.
pub struct FolderZip {
    pub file_name: String,
    pub body: tokio_util::io::ReaderStream<tokio::io::DuplexStream>,
}

/// Text compresses; images, archives and the like are stored as they are (deflating them
/// costs CPU for nothing).
fn compression_for(artifact: &Artifact) -> Compression {
    let ct = artifact.content_type.to_ascii_lowercase();
    let compressible = ct.starts_with("text/")
        || ct.contains("json")
        || ct.contains("xml")
        || ct.contains("javascript")
        || ct.starts_with("image/svg")
        || ct == "application/octet-stream" && artifact.pretty_path.ends_with(".log");
    if compressible { Compression::Deflate } else { Compression::Stored }
}

/// `widgets-42-0.zip` for a container, `widgets-42-0-screenshots.zip` for a folder.
fn zip_name(repo: &str, build_num: i64, node: NodeIndex, folder: &str) -> String {
    let folder = folder.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    let folder: String =
        folder.chars().map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
    let folder = folder.trim_matches('_');
    if folder.is_empty() {
        format!("{repo}-{build_num}-{node}.zip")
    } else {
        format!("{repo}-{build_num}-{node}-{folder}.zip")
    }
}

impl Artifacts {
    /// The artifacts under `folder` (`""` for the whole container, else ending in `/`) of one
    /// container as a zip that holds the folder itself (`reports/html/` gives `html/...`).
    pub async fn zip_folder(
        &self,
        who: &Principal,
        slug: &ProjectSlug,
        build: &BuildRef,
        node: NodeIndex,
        folder: &FolderPath,
        client: Option<std::net::IpAddr>,
    ) -> ServiceResult<FolderZip> {
        let folder = folder.as_str();
        let (project, build) = self.builds.find_build(who, slug, build).await?;
        let count = self.db.count_between(build.id, node.0, folder, &folder_end(folder)).await?;
        if count == 0 {
            let what = if folder.is_empty() { "this container".to_owned() } else { format!("`{folder}`") };
            return Err(ServiceError::NotFound(format!(
                "No artifacts in {what} of container {node} of build {}",
                build.build_num
            )));
        }
        // A zip deflates text as it goes: a few at a time, each for as long as its client reads.
        let permit = self.heavy.permit(crate::core::untrusted::Work::Zip)?;
        self.audit_read(who, &project, &build, format!("{node}/{folder} ({count} artifacts as a zip)"), client);
        // Entries are named from the folder's parent on, so the folder itself is in the zip.
        let strip = folder.trim_end_matches('/').rfind('/').map_or(0, |i| i + 1);
        let modified =
            chrono::DateTime::from_timestamp(build.stop_time.unwrap_or(build.start_time), 0).unwrap_or_default();
        let (reader, writer) = tokio::io::duplex(PIPE_BYTES);
        let (vitrine, folder_owned, build_id) = (self.clone(), folder.to_owned(), build.id);
        tokio::spawn(async move {
            let _permit = permit;
            let written = vitrine.write_zip(writer, build_id, node, &folder_owned, strip, modified).await;
            if let Err(e) = written {
                // The client sees a cut answer; usually it went away itself.
                tracing::info!(error = %e, %build_id, folder = %folder_owned, "a zip download stopped midway");
            }
        });
        Ok(FolderZip {
            file_name: zip_name(&project.repo, build.build_num, node, folder),
            body: tokio_util::io::ReaderStream::with_capacity(reader, 64 * 1024),
        })
    }

    async fn write_zip(
        &self,
        writer: tokio::io::DuplexStream,
        build_id: BuildId,
        node: NodeIndex,
        folder: &str,
        strip: usize,
        modified: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<()> {
        let mut zip = ZipFileWriter::with_tokio(writer);
        let end = folder_end(folder);
        let mut cursor = folder.to_owned();
        loop {
            let rows = self.db.artifacts_between(build_id, node.0, &cursor, &end, ZIP_PAGE).await?;
            for artifact in &rows {
                let name = artifact.pretty_path[strip..].to_owned();
                let entry = ZipEntryBuilder::new(name.into(), compression_for(artifact))
                    .last_modification_date(ZipDateTime::from_chrono(&modified))
                    .unix_permissions(0o644);
                let mut out = zip.write_entry_stream(entry).await?;
                let mut body = self.storage.stream(&artifact.s3_key).await?.body;
                while let Some(chunk) = body.try_next().await? {
                    out.write_all(&chunk).await?;
                }
                out.close().await?;
            }
            match rows.last() {
                Some(last) if rows.len() as i64 == ZIP_PAGE => cursor = just_after(&last.pretty_path),
                _ => break,
            }
        }
        zip.close().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zip_names_say_what_they_hold() {
        assert_eq!(zip_name("widgets", 42, NodeIndex(0), ""), "widgets-42-0.zip");
        assert_eq!(zip_name("widgets", 42, NodeIndex(1), "reports/html/"), "widgets-42-1-html.zip");
        assert_eq!(zip_name("w", 1, NodeIndex(0), "$CIRCLE_ARTIFACTS/"), "w-1-0-CIRCLE_ARTIFACTS.zip");
        assert_eq!(zip_name("w", 1, NodeIndex(0), "a b\"c/"), "w-1-0-a_b_c.zip");
    }
}
