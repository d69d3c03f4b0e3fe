//! Blob uploads: who signs what, and the answer.
//!
//! An upload (`PUT /v1/blob`, or `PUT /v1/blob/{hash}` to name the hash in advance) carries two
//! headers: [`ACCOUNT_HEADER`], the uploader's account id (64 hex characters), and
//! [`SIGNATURE_HEADER`], its ed25519 signature (128 hex characters) over [`upload_message`]:
//! `"deai-blob-upload-v1" || len(chain id) as u8 || chain id || blake3(blob)`. The node accepts
//! it from an account that exists on its ledger, within the account's quota; the chain id keeps
//! a signature from being replayed on another chain. [`sign_upload`] makes both headers.

use deai_types::{ChainId, Hash32, Keypair};
use serde::{Deserialize, Serialize};

/// Header naming the uploading account (64 hex characters).
pub const ACCOUNT_HEADER: &str = "x-deai-account";
/// Header holding the uploader's signature over [`upload_message`] (128 hex characters).
pub const SIGNATURE_HEADER: &str = "x-deai-signature";
/// Domain tag of [`upload_message`].
pub const UPLOAD_TAG: &[u8] = b"deai-blob-upload-v1";

/// The bytes an uploader signs for the blob with hash `blob` on chain `chain`.
pub fn upload_message(chain: &ChainId, blob: &Hash32) -> Vec<u8> {
    let id = chain.as_str().as_bytes();
    let mut msg = Vec::with_capacity(UPLOAD_TAG.len() + 1 + id.len() + 32);
    msg.extend_from_slice(UPLOAD_TAG);
    // Chain ids are at most a few dozen bytes; the length byte keeps the encoding unambiguous.
    msg.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
    msg.extend_from_slice(id);
    msg.extend_from_slice(blob.as_bytes());
    msg
}

/// The two upload headers for `bytes`, signed by `key` for `chain`: `(name, value)` pairs.
pub fn sign_upload(key: &Keypair, chain: &ChainId, bytes: &[u8]) -> [(&'static str, String); 2] {
    let signature = key.sign(&upload_message(chain, &Hash32::of(bytes)));
    [
        (ACCOUNT_HEADER, key.account().to_string()),
        (SIGNATURE_HEADER, signature.to_string()),
    ]
}

/// `201` to a blob upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadAnswer {
    /// The blob's blake3 hash: fetch it at `GET /v1/blob/{hash}`.
    pub hash: Hash32,
    /// Its size in bytes.
    pub bytes: u64,
    /// False if the blob was already stored (nothing written, nobody charged).
    pub stored: bool,
}
