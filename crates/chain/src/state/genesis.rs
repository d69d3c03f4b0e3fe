//! Genesis: the configuration a chain starts from and the state it gives.

use super::*;

/// Genesis: chain id, funded accounts, initial self-stakes, parameters.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenesisConfig {
    /// The chain id every transaction must name.
    pub chain_id: ChainId,
    /// Timestamp of the genesis header.
    #[serde(default)]
    pub genesis_time_ms: u64,
    /// Free balances.
    pub accounts: Vec<(AccountId, Amount)>,
    /// Self-stakes (bonded on the account itself).
    #[serde(default)]
    pub stakes: Vec<(AccountId, Amount)>,
    /// Parameters.
    #[serde(default)]
    pub params: Params,
}

impl GenesisConfig {
    /// A development genesis: every account in `accounts` funded with `balance`, no stakes,
    /// default parameters, genesis time 0. Chain the `with_*` methods for the rest.
    pub fn funded(
        chain_id: ChainId,
        accounts: impl IntoIterator<Item = AccountId>,
        balance: Amount,
    ) -> Self {
        GenesisConfig {
            chain_id,
            genesis_time_ms: 0,
            accounts: accounts.into_iter().map(|a| (a, balance)).collect(),
            stakes: Vec::new(),
            params: Params::default(),
        }
    }

    /// The same genesis with these self-stakes.
    pub fn with_stakes(mut self, stakes: impl IntoIterator<Item = (AccountId, Amount)>) -> Self {
        self.stakes = stakes.into_iter().collect();
        self
    }

    /// The same genesis with these parameters.
    pub fn with_params(mut self, params: Params) -> Self {
        self.params = params;
        self
    }

    /// The same genesis with this header timestamp.
    pub fn with_time_ms(mut self, genesis_time_ms: u64) -> Self {
        self.genesis_time_ms = genesis_time_ms;
        self
    }
}

impl State {
    /// The state at height 0.
    pub fn genesis(cfg: &GenesisConfig) -> Result<State, ChainError> {
        cfg.params.validate()?;
        let mut s = State {
            chain_id: cfg.chain_id.clone(),
            tip: Tip {
                height: Height(0),
                timestamp_ms: cfg.genesis_time_ms,
                parent_hash: Hash32::ZERO,
            },
            params: cfg.params.clone(),
            supply: Supply::default(),
            counters: Counters::default(),
            accounts: BTreeMap::new(),
            stakes: BTreeMap::new(),
            hotkey_stake: BTreeMap::new(),
            staker_stake: BTreeMap::new(),
            unbonding: BTreeMap::new(),
            tasks: BTreeMap::new(),
            registrations: BTreeMap::new(),
            uids: BTreeMap::new(),
            commitments: BTreeMap::new(),
            offences: BTreeMap::new(),
            proposals: BTreeMap::new(),
            votes: BTreeMap::new(),
            gov_queue: BTreeMap::new(),
            model_records: BTreeMap::new(),
            epoch_records: BTreeMap::new(),
            bonds: BTreeMap::new(),
            low_trust_streaks: BTreeMap::new(),
            pv_roles: BTreeMap::new(),
            pv_rounds: BTreeMap::new(),
        };
        let mut total = Amount::ZERO;
        for (account, amount) in &cfg.accounts {
            if amount.is_zero() {
                return Err(ChainError::ZeroAmount {
                    account: *account,
                    list: "accounts",
                });
            }
            let acct = Account {
                balance: *amount,
                ..Account::default()
            };
            if s.accounts.insert(*account, acct).is_some() {
                return Err(ChainError::DuplicateAccount {
                    account: *account,
                    list: "accounts",
                });
            }
            total = total
                .checked_add(*amount)
                .ok_or(ChainError::SupplyOverflow)?;
        }
        for (account, amount) in &cfg.stakes {
            if amount.is_zero() {
                return Err(ChainError::ZeroAmount {
                    account: *account,
                    list: "stakes",
                });
            }
            if s.stakes.insert((*account, *account), *amount).is_some() {
                return Err(ChainError::DuplicateAccount {
                    account: *account,
                    list: "stakes",
                });
            }
            s.hotkey_stake.insert(*account, *amount);
            s.staker_stake.insert(*account, *amount);
            total = total
                .checked_add(*amount)
                .ok_or(ChainError::SupplyOverflow)?;
            s.supply.staked = s
                .supply
                .staked
                .checked_add(*amount)
                .ok_or(ChainError::SupplyOverflow)?;
        }
        s.supply.genesis = total;
        s.supply.total_issuance = total;
        Ok(s)
    }
}
