//! Fault injection for crash tests: when `LAKEGATE_FAULT_COMMIT_DELAY_MS`
//! is set in the server's environment, every Delta commit waits that long
//! after its data files are written and before its commit file is. A test
//! kills the server inside that window to show that data files without a
//! commit change nothing. Unset (always, in production), the store below is
//! a plain pass-through.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use deltalake_core::logstore::object_store::path::Path;
use deltalake_core::logstore::object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};
use futures::stream::BoxStream;

/// The variable that sets the delay.
pub const COMMIT_DELAY_VAR: &str = "LAKEGATE_FAULT_COMMIT_DELAY_MS";

/// The configured delay, if any.
pub fn commit_delay() -> Option<Duration> {
    std::env::var(COMMIT_DELAY_VAR)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

/// An object store that delays writes of Delta commit files.
#[derive(Debug)]
pub struct DelayCommits {
    inner: Arc<dyn ObjectStore>,
    delay: Duration,
}

impl DelayCommits {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>, delay: Duration) -> Self {
        Self { inner, delay }
    }

    async fn gate(&self, to: &Path) {
        let p = to.as_ref();
        if p.contains("_delta_log/") && p.ends_with(".json") {
            tracing::warn!(commit = %p, delay = ?self.delay, "fault injection: delaying a Delta commit");
            tokio::time::sleep(self.delay).await;
        }
    }
}

impl fmt::Display for DelayCommits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DelayCommits({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for DelayCommits {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.gate(location).await;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> Result<Vec<bytes::Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.gate(to).await;
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.gate(to).await;
        self.inner.rename_opts(from, to, options).await
    }
}
