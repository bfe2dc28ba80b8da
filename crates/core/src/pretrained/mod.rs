//! Pretrained Hugging Face checkpoints: architectures, weight loading, tokenizers.

pub mod tokenizer;
