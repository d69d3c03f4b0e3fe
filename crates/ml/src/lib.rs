//! Train and evaluate MNIST-format models with candle, with a fused CPU path for the MLP used by federated rounds.
