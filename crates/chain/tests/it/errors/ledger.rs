//! The error cases of the transaction envelope, fees, balances and staking.

use deai_chain::*;
use deai_types::*;

use super::*;

pub(super) fn cases() -> Vec<(&'static str, Setup)> {
    vec![
        ("wrong chain", |env| {
            let mut tx = Tx {
                chain_id: ChainId::new("other").unwrap(),
                nonce: Nonce(0),
                fee: Amount(FEE),
                call: Call::Withdraw,
            };
            tx.nonce = env.state.nonce_of(&env.id(1));
            let e = TxError::WrongChain {
                expected: env.state.chain_id().clone(),
                got: tx.chain_id.clone(),
            };
            (env.keys[1].sign_tx(tx), e)
        }),
        ("bad signature", |env| {
            let mut s = env.sign(1, Call::Withdraw);
            s.signature.0[5] ^= 1;
            (s, TxError::BadSignature)
        }),
        ("signature by another key", |env| {
            let mut s = env.sign(1, Call::Withdraw);
            s.signer = env.id(2);
            (s, TxError::BadSignature)
        }),
        ("replayed transaction", |env| {
            let to = env.id(2);
            let s = env.sign(
                1,
                Call::Transfer {
                    to,
                    amount: Amount(5),
                },
            );
            let out = env.block(vec![s.clone()]);
            assert!(out[0].is_ok());
            let e = TxError::BadNonce {
                expected: Nonce(1),
                got: Nonce(0),
            };
            (s, e)
        }),
        ("nonce gap", |env| {
            let mut tx = env.sign(1, Call::Withdraw).tx;
            tx.nonce = Nonce(3);
            let e = TxError::BadNonce {
                expected: Nonce(0),
                got: Nonce(3),
            };
            (env.keys[1].sign_tx(tx), e)
        }),
        ("fee below minimum", |env| {
            let mut tx = env.sign(1, Call::Withdraw).tx;
            tx.fee = Amount(0);
            let e = TxError::FeeTooLow {
                min: Amount(1),
                offered: Amount(0),
            };
            (env.keys[1].sign_tx(tx), e)
        }),
        ("cannot pay fee", |env| {
            let k = Keypair::from_seed([99; 32]);
            let tx = Tx {
                chain_id: env.state.chain_id().clone(),
                nonce: Nonce(0),
                fee: Amount(FEE),
                call: Call::Withdraw,
            };
            let e = TxError::CannotPayFee {
                balance: Amount(0),
                fee: Amount(FEE),
            };
            (k.sign_tx(tx), e)
        }),
        ("zero transfer", |env| {
            let to = env.id(2);
            (
                env.sign(
                    1,
                    Call::Transfer {
                        to,
                        amount: Amount(0),
                    },
                ),
                TxError::ZeroAmount,
            )
        }),
        ("zero stake", |env| {
            (
                env.sign(1, Call::Stake { amount: Amount(0) }),
                TxError::ZeroAmount,
            )
        }),
        ("self transfer", |env| {
            let to = env.id(1);
            (
                env.sign(
                    1,
                    Call::Transfer {
                        to,
                        amount: Amount(1),
                    },
                ),
                TxError::SelfTransfer,
            )
        }),
        ("transfer more than balance after fee", |env| {
            let to = env.id(2);
            let e = TxError::InsufficientBalance {
                available: Amount(FUND - FEE),
                needed: Amount(FUND),
            };
            (
                env.sign(
                    1,
                    Call::Transfer {
                        to,
                        amount: Amount(FUND),
                    },
                ),
                e,
            )
        }),
        ("delegate more than balance", |env| {
            let hotkey = env.id(2);
            let e = TxError::InsufficientBalance {
                available: Amount(FUND - FEE),
                needed: Amount(u128::MAX),
            };
            (
                env.sign(
                    1,
                    Call::Delegate {
                        hotkey,
                        amount: Amount(u128::MAX),
                    },
                ),
                e,
            )
        }),
        ("task reward above balance", |env| {
            let mut spec = spec();
            spec.reward = Amount(FUND);
            let e = TxError::InsufficientBalance {
                available: Amount(FUND - FEE),
                needed: Amount(FUND),
            };
            (env.sign(1, Call::ProposeTask(spec)), e)
        }),
        ("registration cost above balance", |env| {
            let t = std_task(env);
            let to = env.id(2);
            env.ok(
                1,
                Call::Transfer {
                    to,
                    amount: Amount(FUND - 50),
                },
            );
            let e = TxError::InsufficientBalance {
                available: Amount(50 - 2 * FEE),
                needed: Amount(100),
            };
            (
                env.sign(
                    1,
                    Call::Register {
                        task: t,
                        role: Role::Validator,
                    },
                ),
                e,
            )
        }),
        ("unstake without stake", |env| {
            let e = TxError::InsufficientStake {
                hotkey: env.id(1),
                available: Amount(0),
                needed: Amount(1),
            };
            (env.sign(1, Call::Unstake { amount: Amount(1) }), e)
        }),
        ("undelegate more than delegated", |env| {
            let hotkey = env.id(2);
            env.ok(
                1,
                Call::Delegate {
                    hotkey,
                    amount: Amount(10),
                },
            );
            let e = TxError::InsufficientStake {
                hotkey,
                available: Amount(10),
                needed: Amount(11),
            };
            (
                env.sign(
                    1,
                    Call::Undelegate {
                        hotkey,
                        amount: Amount(11),
                    },
                ),
                e,
            )
        }),
        ("release height overflows", |env| {
            *env = Env::with(
                Params {
                    unbonding_blocks: u64::MAX,
                    ..params()
                },
                3,
            );
            env.ok(1, Call::Stake { amount: Amount(10) });
            let e = TxError::Overflow {
                what: "release height".into(),
            };
            (env.sign(1, Call::Unstake { amount: Amount(5) }), e)
        }),
        ("withdraw with nothing unbonding", |env| {
            (
                env.sign(1, Call::Withdraw),
                TxError::NothingToWithdraw { next_release: None },
            )
        }),
        ("withdraw before release", |env| {
            env.ok(1, Call::Stake { amount: Amount(10) });
            env.ok(1, Call::Unstake { amount: Amount(4) }); // at height 2, releases at 7
            let e = TxError::NothingToWithdraw {
                next_release: Some(Height(7)),
            };
            (env.sign(1, Call::Withdraw), e)
        }),
        ("take above max", |env| {
            let take = Fixed::from_bps(5_001);
            let e = TxError::TakeOutOfRange {
                take,
                max: Fixed::from_bps(5_000),
            };
            (env.sign(1, Call::SetTake { take }), e)
        }),
        ("negative take", |env| {
            let take = Fixed::from_int(-1);
            let e = TxError::TakeOutOfRange {
                take,
                max: Fixed::from_bps(5_000),
            };
            (env.sign(1, Call::SetTake { take }), e)
        }),
    ]
}
