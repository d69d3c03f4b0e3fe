//! Measure how decentralized a distribution of holdings is: Gini, Nakamoto coefficient, HHI, entropy, Theil and top-k shares.
