//! The block that consensus orders: a parent link, a height and an opaque payload.
//!
//! The engine never looks inside the payload; the [`Executor`](super::Executor) builds and
//! checks it. The digest commits to all three fields, so two blocks with the same digest are the
//! same block, and it is computed once when the block is built or decoded.

use bytes::{BufMut, Bytes};
use commonware_codec::{varint::UInt, Buf, EncodeSize, Error as CodecError, Read, ReadExt, Write};
use commonware_consensus::{types::Height, Heightable};
use commonware_cryptography::{sha256, Digestible, Hasher, Sha256};

/// Digest of a consensus block (SHA-256, as commonware's simplex examples use).
pub type Digest = sha256::Digest;

/// A block as consensus orders it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusBlock {
    parent: Digest,
    height: u64,
    payload: Bytes,
    digest: Digest,
}

impl ConsensusBlock {
    /// Builds a block and computes its digest.
    pub fn new(parent: Digest, height: u64, payload: Bytes) -> Self {
        let digest = Self::compute_digest(&parent, height, &payload);
        Self {
            parent,
            height,
            payload,
            digest,
        }
    }

    /// The genesis block: height 0, an all-zero parent and the executor's genesis payload.
    pub fn genesis(payload: Bytes) -> Self {
        Self::new(Sha256::hash(&[]), 0, payload)
    }

    fn compute_digest(parent: &Digest, height: u64, payload: &[u8]) -> Digest {
        Sha256::hash(&[
            b"deai-consensus-block-v1",
            parent.as_ref(),
            &height.to_be_bytes(),
            payload,
        ])
    }

    /// The parent's digest.
    pub fn parent_digest(&self) -> Digest {
        self.parent
    }

    /// Height, 0 for genesis.
    pub fn height_u64(&self) -> u64 {
        self.height
    }

    /// The executor's payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// This block's digest.
    pub fn id(&self) -> Digest {
        self.digest
    }
}

impl Write for ConsensusBlock {
    fn write(&self, buf: &mut impl BufMut) {
        self.parent.write(buf);
        UInt(self.height).write(buf);
        UInt(self.payload.len() as u64).write(buf);
        buf.put_slice(&self.payload);
    }
}

impl EncodeSize for ConsensusBlock {
    fn encode_size(&self) -> usize {
        self.parent.encode_size()
            + UInt(self.height).encode_size()
            + UInt(self.payload.len() as u64).encode_size()
            + self.payload.len()
    }
}

impl Read for ConsensusBlock {
    /// The largest payload accepted, in bytes.
    type Cfg = usize;

    fn read_cfg(buf: &mut impl Buf, max_payload: &usize) -> Result<Self, CodecError> {
        let parent = Digest::read(buf)?;
        let height: u64 = UInt::read(buf)?.into();
        let len: u64 = UInt::read(buf)?.into();
        let len = usize::try_from(len)
            .ok()
            .filter(|len| len <= max_payload)
            .ok_or(CodecError::InvalidLength(len as usize))?;
        if buf.remaining() < len {
            return Err(CodecError::EndOfBuffer);
        }
        let payload = buf.copy_to_bytes(len);
        Ok(Self::new(parent, height, payload))
    }
}

impl Digestible for ConsensusBlock {
    type Digest = Digest;

    fn digest(&self) -> Digest {
        self.digest
    }
}

impl Heightable for ConsensusBlock {
    fn height(&self) -> Height {
        Height::new(self.height)
    }
}

impl commonware_consensus::Block for ConsensusBlock {
    fn parent(&self) -> Digest {
        self.parent
    }
}

impl commonware_consensus::BoundedBlock for ConsensusBlock {
    fn max_encode_size(max_payload: &usize) -> usize {
        // digest + widest u64 varint for the height + widest length varint + payload.
        32 + 10 + 10 + max_payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{Decode, Encode};

    #[test]
    fn encoding_round_trips_and_digest_commits_to_every_field() {
        let block = ConsensusBlock::new(Sha256::hash(&[b"p"]), 7, Bytes::from_static(b"payload"));
        let bytes = block.encode();
        assert_eq!(bytes.len(), block.encode_size());
        let decoded = ConsensusBlock::decode_cfg(bytes, &1024).unwrap();
        assert_eq!(decoded, block);
        let other_height =
            ConsensusBlock::new(Sha256::hash(&[b"p"]), 8, Bytes::from_static(b"payload"));
        let other_payload =
            ConsensusBlock::new(Sha256::hash(&[b"p"]), 7, Bytes::from_static(b"payloaD"));
        assert_ne!(block.id(), other_height.id());
        assert_ne!(block.id(), other_payload.id());
    }

    #[test]
    fn oversize_payload_and_truncation_are_rejected() {
        let block = ConsensusBlock::new(Sha256::hash(&[b"p"]), 1, Bytes::from(vec![1u8; 100]));
        let bytes = block.encode();
        assert!(ConsensusBlock::decode_cfg(bytes.clone(), &99).is_err());
        assert!(ConsensusBlock::decode_cfg(bytes.slice(..bytes.len() - 1), &1000).is_err());
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(ConsensusBlock::decode_cfg(Bytes::from(longer), &1000).is_err());
    }
}
