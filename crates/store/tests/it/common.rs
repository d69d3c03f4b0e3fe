//! Shared fixtures: a development genesis with seeded keys and transfer workloads.

use deai_chain::GenesisConfig;
use deai_types::{AccountId, Amount, Call, ChainId, Keypair, Nonce, SignedTx, Tx};

/// Balance of every genesis account.
pub const BALANCE: u128 = 1_000_000_000;

/// `n` keys derived from fixed seeds.
pub fn keys(n: usize) -> Vec<Keypair> {
    (0..n)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            seed[31] = 0xd5;
            Keypair::from_seed(seed)
        })
        .collect()
}

/// The chain id of the fixtures.
pub fn chain_id() -> ChainId {
    ChainId::new("deai-test").unwrap()
}

/// A genesis funding every key with [`BALANCE`].
pub fn genesis(keys: &[Keypair]) -> GenesisConfig {
    GenesisConfig::funded(
        chain_id(),
        keys.iter().map(Keypair::account),
        Amount(BALANCE),
    )
    .with_time_ms(1_000)
}

/// A signed transfer.
pub fn transfer(from: &Keypair, nonce: u64, to: AccountId, amount: u128) -> SignedTx {
    from.sign_tx(Tx {
        chain_id: chain_id(),
        nonce: Nonce(nonce),
        fee: Amount(1),
        call: Call::Transfer {
            to,
            amount: Amount(amount),
        },
    })
}

/// A deterministic block's worth of transfers: `count` transfers, sender `i % keys`, receiver
/// the next key, each sender's nonces continuing from `nonces` (updated).
pub fn transfers_for_block(
    keys: &[Keypair],
    nonces: &mut [u64],
    block: u64,
    count: usize,
) -> Vec<SignedTx> {
    (0..count)
        .map(|i| {
            let s = (i + block as usize * 7) % keys.len();
            let r = (s + 1 + i % 3) % keys.len();
            let tx = transfer(&keys[s], nonces[s], keys[r].account(), 1 + (i as u128 % 50));
            nonces[s] += 1;
            tx
        })
        .collect()
}
