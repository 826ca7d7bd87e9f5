//! [`BlobUrl`]: where `SPV_BLOB_URL` puts the blobs, and the store it opens.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use super::{BlobStore, LocalBlobs, S3Blobs};
use crate::{Error, Result};

/// The longest `SPV_BLOB_URL` accepted.
const MAX_URL_LEN: usize = 1024;

/// Where blobs live: a directory or an S3 bucket and prefix.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlobUrl {
    /// A local directory, laid out `ab/cd/<sha256>`.
    Dir(PathBuf),
    /// `s3://bucket/prefix`: the bucket and the prefix (no leading or trailing `/`,
    /// possibly empty) of every object.
    S3 {
        /// The bucket's name.
        bucket: String,
        /// The prefix below which the blobs live.
        prefix: String,
    },
}

impl BlobUrl {
    /// Reads a directory path or `s3://bucket/prefix`; anything else with a `scheme://`,
    /// an S3 URL without a bucket, or a prefix with empty, `.` or `..` segments is an
    /// error.
    ///
    /// ```
    /// use spv::store::BlobUrl;
    ///
    /// let url = BlobUrl::parse("s3://media/spv/blobs/").unwrap();
    /// assert_eq!(url, BlobUrl::S3 { bucket: "media".into(), prefix: "spv/blobs".into() });
    /// assert_eq!(url.to_string(), "s3://media/spv/blobs");
    /// assert_eq!(BlobUrl::parse("/var/lib/spv/blobs").unwrap(), BlobUrl::Dir("/var/lib/spv/blobs".into()));
    /// assert!(BlobUrl::parse("gs://media").is_err());
    /// assert!(BlobUrl::parse("s3://media/a//b").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<BlobUrl> {
        let bad = |expected: &str| {
            Error::invalid_request(format!(
                "blob URL {url:?} is not valid; expected {expected}"
            ))
        };
        let url = url.trim();
        if url.is_empty() || url.len() > MAX_URL_LEN {
            return Err(bad(&format!(
                "a directory or s3://bucket/prefix of 1 to {MAX_URL_LEN} characters"
            )));
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Ok(BlobUrl::Dir(PathBuf::from(url)));
        };
        if !scheme.eq_ignore_ascii_case("s3") {
            return Err(bad("a directory or s3://bucket/prefix"));
        }
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            return Err(bad(
                "s3://bucket/prefix with a bucket name of 3 to 63 lowercase letters, digits, '-' or '.'",
            ));
        }
        let prefix = prefix.trim_matches('/');
        let segments_ok = prefix.is_empty()
            || prefix.split('/').all(|s| {
                !s.is_empty()
                    && s != "."
                    && s != ".."
                    && s.chars().all(|c| !c.is_control() && c != '\\')
            });
        if !segments_ok {
            return Err(bad(
                "a prefix of non-empty segments without '.', '..' or control characters",
            ));
        }
        Ok(BlobUrl::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// Opens the store: a [`LocalBlobs`] on the directory, or an [`S3Blobs`] configured by
    /// the `AWS_*` variables of `aws` (`AWS_ENDPOINT`, `AWS_ALLOW_HTTP`,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, … as object_store's
    /// `AmazonS3Builder::from_env` reads them; unknown names are ignored). Nothing is
    /// contacted yet: an unreachable bucket shows in [`BlobStore::check`].
    pub fn open(&self, aws: &BTreeMap<String, String>) -> Result<Arc<dyn BlobStore>> {
        Ok(match self {
            BlobUrl::Dir(dir) => Arc::new(LocalBlobs::new(dir.clone())),
            BlobUrl::S3 { bucket, prefix } => Arc::new(S3Blobs::open(bucket, prefix, aws)?),
        })
    }
}

impl fmt::Display for BlobUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobUrl::Dir(dir) => write!(f, "{}", dir.display()),
            BlobUrl::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            BlobUrl::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

impl fmt::Debug for BlobUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobUrl({self})")
    }
}
