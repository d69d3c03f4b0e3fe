//! `deai bench ledger`: signed transfers applied and committed to redb, against single-core
//! ed25519 verification measured in the same run.

use std::path::PathBuf;

use anyhow::{anyhow, bail};
use clap::Args;
use deai_chain::GenesisConfig;
use deai_store::{EmbeddedChain, EmbeddedConfig};
use deai_types::{Amount, Call, ChainId, Keypair, Nonce, SignedTx, Tx};
use serde_json::json;

use crate::cmd::print_json;
use crate::Global;

/// Arguments of `deai bench ledger`.
#[derive(Args, Debug)]
#[command(
    about = "Apply and commit blocks of signed transfers; compare with single-core ed25519 verification",
    long_about = "Build a chain with --accounts funded accounts in a temporary directory, pre-sign \
--blocks × --txs-per-block transfers, then time admission (parallel batch signature \
verification), execution, state-root computation and the durable redb commit of every block \
(pipelined: block k is written while block k+1 executes). Prints the sustained signed-transfer \
throughput next to the single-core ed25519 verification rate measured in the same run, and their \
ratio. Build with --release."
)]
pub struct BenchLedgerArgs {
    /// Funded accounts (senders and receivers).
    #[arg(long, default_value_t = 10_000)]
    pub accounts: usize,
    /// Blocks to produce.
    #[arg(long, default_value_t = 20)]
    pub blocks: usize,
    /// Transfers per block.
    #[arg(long, default_value_t = 5_000)]
    pub txs_per_block: usize,
    /// Signatures timed for the single-core verification baseline.
    #[arg(long, default_value_t = 10_000)]
    pub baseline_sigs: usize,
    /// Commit each block before executing the next (no pipelining), for comparison.
    #[arg(long)]
    pub sync_commit: bool,
    /// Directory for the temporary chain (default: the system temp directory).
    #[arg(long)]
    pub tmp_dir: Option<PathBuf>,
}

fn bench_key(i: usize) -> Keypair {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    seed[31] = 0xbe;
    Keypair::from_seed(seed)
}

/// Verification rates measured in the same run as the throughput.
struct VerifyRates {
    /// Single core: ed25519-dalek `verify` over pre-parsed keys and precomputed digests.
    raw: f64,
    /// Single core: the ledger's `SignedTx::verify` (signing hash, key parse, batch equation).
    signed_tx: f64,
    /// All threads: the store's cached-key parallel batch verifier.
    parallel_batch: f64,
}

fn verify_rates(txs: &[SignedTx]) -> anyhow::Result<VerifyRates> {
    use ed25519_dalek::{Signature as DalekSig, Verifier, VerifyingKey};
    let prepared: Vec<(VerifyingKey, DalekSig, [u8; 32])> = txs
        .iter()
        .map(|t| {
            let key = VerifyingKey::from_bytes(&t.signer.0)
                .map_err(|e| anyhow!("bench key is not a valid point: {e}"))?;
            Ok((
                key,
                DalekSig::from_bytes(&t.signature.0),
                t.tx.signing_hash().0,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let start = std::time::Instant::now();
    let mut ok = 0usize;
    for (key, sig, msg) in &prepared {
        ok += usize::from(key.verify(msg, sig).is_ok());
    }
    let raw = prepared.len() as f64 / start.elapsed().as_secs_f64();
    let start = std::time::Instant::now();
    for t in txs {
        ok += usize::from(t.verify().is_ok());
    }
    let signed_tx = txs.len() as f64 / start.elapsed().as_secs_f64();
    let verifier = deai_store::SigVerifier::default();
    let start = std::time::Instant::now();
    ok += verifier.verify(txs).into_iter().filter(|b| *b).count();
    let parallel_batch = txs.len() as f64 / start.elapsed().as_secs_f64();
    if ok != 3 * txs.len() {
        bail!("baseline signatures failed to verify");
    }
    Ok(VerifyRates {
        raw,
        signed_tx,
        parallel_batch,
    })
}

/// Runs `deai bench ledger`.
pub fn run_bench(args: BenchLedgerArgs, global: &Global) -> anyhow::Result<()> {
    use deai_store::CommitMode;
    use rayon::prelude::*;
    use std::time::Instant;

    if args.accounts < 2 || args.blocks == 0 || args.txs_per_block == 0 {
        bail!("need --accounts >= 2, --blocks >= 1 and --txs-per-block >= 1");
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; timings are meaningless (use --release)");
    }
    let keys: Vec<Keypair> = (0..args.accounts).into_par_iter().map(bench_key).collect();
    let chain_id = ChainId::new("deai-bench")?;
    let genesis = GenesisConfig::funded(
        chain_id.clone(),
        keys.iter().map(Keypair::account),
        Amount(1_000_000_000_000),
    );
    // Pre-sign every block: block b, tx i is sent by account (b*T + i) mod N, which cycles
    // through all accounts so each sender's nonces stay consecutive across blocks.
    let total = args.blocks * args.txs_per_block;
    let n = args.accounts;
    let blocks: Vec<Vec<SignedTx>> = (0..args.blocks)
        .map(|b| {
            (0..args.txs_per_block)
                .into_par_iter()
                .map(|i| {
                    let g = b * args.txs_per_block + i;
                    let s = g % n;
                    let r = (s + 1 + g / n) % n;
                    let r = if r == s { (s + 1) % n } else { r };
                    keys[s].sign_tx(Tx {
                        chain_id: chain_id.clone(),
                        nonce: Nonce((g / n) as u64),
                        fee: Amount(1),
                        call: Call::Transfer {
                            to: keys[r].account(),
                            amount: Amount(1 + (g % 97) as u128),
                        },
                    })
                })
                .collect()
        })
        .collect();

    // Baseline, same process, same machine state.
    let baseline: Vec<SignedTx> = blocks
        .iter()
        .flatten()
        .take(args.baseline_sigs.max(1))
        .cloned()
        .collect();
    let rates = verify_rates(&baseline)?;
    let (raw_rate, tx_verify_rate) = (rates.raw, rates.signed_tx);

    let tmp = match &args.tmp_dir {
        Some(d) => tempfile::Builder::new()
            .prefix("deai-bench-ledger")
            .tempdir_in(d)?,
        None => tempfile::Builder::new()
            .prefix("deai-bench-ledger")
            .tempdir()?,
    };
    let config = EmbeddedConfig {
        mempool: deai_store::MempoolConfig {
            max_txs: total.max(1),
            max_per_sender: total.max(1),
            max_nonce_gap: total as u64,
        },
        max_block_txs: args.txs_per_block,
        commit: if args.sync_commit {
            CommitMode::Sync
        } else {
            CommitMode::Pipelined { depth: 2 }
        },
    };
    let mut chain = EmbeddedChain::init(tmp.path(), &genesis, config)?;

    // Pipeline: while block k executes and block k-1 is written by the committer, the
    // signatures of block k+1 are verified on the other threads.
    let verifier = chain.verifier();
    let mut admit_s = 0.0;
    let mut produce_s = 0.0;
    let mut failed = 0usize;
    let mut included = 0usize;
    let start = Instant::now();
    let mut pending = blocks.into_iter();
    let mut next = pending
        .next()
        .map(|txs| deai_store::VerifiedBatch::new(txs, &verifier));
    let mut b = 0u64;
    while let Some(batch) = next.take() {
        b += 1;
        let t = Instant::now();
        let rejected = chain
            .submit_verified(batch)
            .into_iter()
            .filter(Result::is_err)
            .count();
        admit_s += t.elapsed().as_secs_f64();
        if rejected > 0 {
            bail!("{rejected} transactions of block {b} were refused admission");
        }
        let t = Instant::now();
        let upcoming = pending.next();
        let (produced, verified) = std::thread::scope(|scope| {
            let verifier = &verifier;
            let handle = scope
                .spawn(move || upcoming.map(|txs| deai_store::VerifiedBatch::new(txs, verifier)));
            let produced = chain.produce_block(b * 1000);
            (produced, handle.join())
        });
        next = verified.map_err(|_| anyhow!("the verification thread panicked"))?;
        let produced = produced?;
        produce_s += t.elapsed().as_secs_f64();
        included += produced.block.txs.len();
        failed += produced.outcomes.iter().filter(|o| o.is_err()).count();
    }
    let t = Instant::now();
    chain.flush()?;
    let flush_s = t.elapsed().as_secs_f64();
    let elapsed = start.elapsed().as_secs_f64();
    if included != total || failed != 0 {
        bail!("benchmark chain misbehaved: {included}/{total} included, {failed} failed");
    }
    let head = chain.durable_height();
    drop(chain);
    let throughput = total as f64 / elapsed;
    let ratio = throughput / raw_rate;
    let ratio_tx = throughput / tx_verify_rate;
    let threads = rayon::current_num_threads();
    if global.json {
        print_json(&json!({
            "accounts": args.accounts, "blocks": args.blocks, "txs_per_block": args.txs_per_block,
            "commit": if args.sync_commit { "sync" } else { "pipelined" },
            "threads": threads, "elapsed_s": elapsed, "head": head,
            "throughput_tx_per_s": throughput,
            "single_core_ed25519_verify_per_s": raw_rate,
            "single_core_signed_tx_verify_per_s": tx_verify_rate,
            "parallel_batch_verify_per_s": rates.parallel_batch,
            "ratio": ratio, "ratio_vs_signed_tx_verify": ratio_tx,
            "admission_s": admit_s, "produce_and_verify_next_s": produce_s,
            "final_flush_s": flush_s,
        }))?;
    } else {
        println!(
            "ledger/commit/transfers: {} accounts, {} blocks x {} txs, {} commit, {} threads",
            args.accounts,
            args.blocks,
            args.txs_per_block,
            if args.sync_commit {
                "sync"
            } else {
                "pipelined"
            },
            threads
        );
        println!(
            "  signed transfers applied and committed to redb: {throughput:>10.0} tx/s  ({total} txs in {elapsed:.3} s; first verify + admission {admit_s:.3} s, produce || verify next {produce_s:.3} s, final flush {flush_s:.3} s)"
        );
        println!("  single-core ed25519 verify (baseline):          {raw_rate:>10.0} sig/s");
        println!("  single-core SignedTx::verify (hash + verify):   {tx_verify_rate:>10.0} tx/s");
        println!(
            "  parallel batch verify, cold key cache ({threads} threads): {:>8.0} sig/s",
            rates.parallel_batch
        );
        println!(
            "  ratio throughput / single-core ed25519 verify:  {ratio:>10.2}x  (target >= 1.0x)"
        );
        println!("  ratio throughput / single-core SignedTx::verify:{ratio_tx:>10.2}x");
    }
    Ok(())
}
