//! Request bodies on their way to a temp file: received in batches, hashed and written on the
//! blocking pool, flushed to disk in the background.

use std::io::{self, Write};

use bytes::Bytes;
use futures::StreamExt;
use s3s::dto::StreamingBlob;
use s3s::{S3Error, S3Result, s3_error};

use super::checksums::{Digests, Hashers};
use super::disk::internal;
use super::root::FsStore;
use super::temp::TempFile;

/// Received bytes are handed to a blocking thread in batches of this size: bounded memory per
/// request, and one thread hop per MiB rather than per network chunk.
pub(super) const BATCH: usize = 1 << 20;

/// A request body on its way to a temp file. A small body is written in one go when it is
/// complete. A big one goes through a pipeline: the async side collects network chunks into
/// batches, a blocking thread hashes and writes each batch while the next one arrives, and
/// every [`SYNC_EVERY`] bytes a second thread flushes what was written to disk, so the final
/// `fdatasync` before the commit finds little left to do.
pub(crate) struct Spool {
    store: FsStore,
    tmp: Option<TempFile>,
    /// Chunks received but not written yet.
    pending: Vec<Bytes>,
    size: u64,
    hashers: Hashers,
}

/// Written bytes between background flushes to disk.
const SYNC_EVERY: u64 = 64 << 20;

impl Spool {
    /// Reads the whole body. Fails early when it grows past `limit` (the announced length).
    pub async fn receive(
        store: &FsStore,
        body: Option<StreamingBlob>,
        hashers: Hashers,
        limit: Option<u64>,
    ) -> S3Result<Spool> {
        let mut spool = Spool { store: store.clone(), tmp: None, pending: Vec::new(), size: 0, hashers };
        let Some(mut body) = body else { return Ok(spool) };
        let mut pending = Vec::new();
        let mut pending_len = 0usize;
        let mut size = 0u64;
        let mut failed = None;
        // Started at the first full batch, with the spool moved into its writer thread.
        let mut pipeline: Option<Pipeline> = None;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    failed = Some(body_error(e));
                    break;
                }
            };
            size += chunk.len() as u64;
            if let Some(limit) = limit
                && size > limit
            {
                failed = Some(s3_error!(IncompleteBody, "the body is longer than Content-Length ({limit} bytes)"));
                break;
            }
            pending_len += chunk.len();
            pending.push(chunk);
            if pending_len >= BATCH {
                pending_len = 0;
                let line =
                    pipeline.get_or_insert_with(|| Pipeline::start(std::mem::replace(&mut spool, Spool::empty(store))));
                if line.batches.send(std::mem::take(&mut pending)).await.is_err() {
                    break; // the writer stopped: its error comes with its result
                }
            }
        }
        if let Some(line) = pipeline {
            if failed.is_none() && !pending.is_empty() {
                let _ = line.batches.send(std::mem::take(&mut pending)).await;
            }
            drop(line.batches);
            let written = line.writer.await.map_err(S3Error::internal_error)?;
            if let Some(e) = failed {
                return Err(e);
            }
            spool = written.map_err(|e| internal(e, "cannot write the upload"))?;
        } else if let Some(e) = failed {
            return Err(e);
        }
        spool.pending = pending;
        spool.size = size;
        Ok(spool)
    }

    fn empty(store: &FsStore) -> Spool {
        Spool { store: store.clone(), tmp: None, pending: Vec::new(), size: 0, hashers: Hashers::new(&[], false) }
    }

    /// Hashes and writes chunks to the temp file, creating it first if needed (blocking).
    fn write(&mut self, chunks: Vec<Bytes>) -> io::Result<u64> {
        let tmp = match &mut self.tmp {
            Some(tmp) => tmp,
            None => self.tmp.insert(self.store.temp()?),
        };
        let mut written = 0;
        for chunk in chunks {
            self.hashers.update(&chunk);
            tmp.file.write_all(&chunk)?;
            written += chunk.len() as u64;
        }
        Ok(written)
    }

    /// Writes what is left and returns the temp file with the digests (blocking).
    pub fn finish(mut self) -> S3Result<(TempFile, Digests)> {
        let pending = std::mem::take(&mut self.pending);
        self.write(pending).map_err(|e| internal(e, "cannot write the upload"))?;
        let tmp = self.tmp.take().ok_or_else(|| s3_error!(InternalError, "no temp file"))?;
        Ok((tmp, self.hashers.finish(self.size)))
    }
}

/// The writer side of a big body: batches in, the spool (with its temp file) out.
struct Pipeline {
    batches: tokio::sync::mpsc::Sender<Vec<Bytes>>,
    writer: tokio::task::JoinHandle<io::Result<Spool>>,
}

impl Pipeline {
    fn start(mut spool: Spool) -> Pipeline {
        let (batches, mut to_write) = tokio::sync::mpsc::channel::<Vec<Bytes>>(2);
        let writer = tokio::task::spawn_blocking(move || -> io::Result<Spool> {
            let mut unsynced = 0u64;
            let mut flushing: Option<std::thread::JoinHandle<io::Result<()>>> = None;
            let join = |f: std::thread::JoinHandle<io::Result<()>>| {
                f.join().map_err(|_| io::Error::other("the flush thread panicked"))?
            };
            while let Some(batch) = to_write.blocking_recv() {
                unsynced += spool.write(batch)?;
                if unsynced >= SYNC_EVERY && flushing.as_ref().is_none_or(std::thread::JoinHandle::is_finished) {
                    if let Some(done) = flushing.take() {
                        join(done)?;
                    }
                    let file = spool.tmp.as_ref().map(|t| t.file.try_clone()).transpose()?;
                    flushing = file.map(|file| std::thread::spawn(move || file.sync_data()));
                    unsynced = 0;
                }
            }
            if let Some(done) = flushing {
                join(done)?;
            }
            Ok(spool)
        });
        Pipeline { batches, writer }
    }
}

/// An error of the request body stream: the client stopped early, or s3s found the payload
/// hash or a chunk signature wrong.
fn body_error(e: s3s::StdError) -> S3Error {
    let e = match e.downcast::<S3Error>() {
        Ok(e) => return *e,
        Err(e) => e,
    };
    let text = e.to_string();
    tracing::debug!(error = %text, "embedded S3: request body failed");
    if text.contains("Sha256Mismatch") {
        s3_error!(BadDigest, "the body does not match x-amz-content-sha256")
    } else if text.contains("SignatureMismatch") {
        s3_error!(SignatureDoesNotMatch, "a chunk signature of the body does not match")
    } else {
        s3_error!(IncompleteBody, "the request body could not be read to its end: {text}")
    }
}
