"""Tiny models for the recipe tests: built from a config, with a tokenizer trained on the sample.

Nothing is downloaded: the tokenizer is a byte-level BPE trained on the embedded sample's prompts
and completions, the models are 2-layer Llama / T5 configs, all saved to folders that the recipes
load by path like any Hub model.
"""

from __future__ import annotations

from pathlib import Path


ALL_INSTANCE_CONFIGS = ("definition,definition_pos,steps_ordered,steps_ordered_pos,steps_shuffled,steps_reversed,"
                        "steps_only,steps_ordered_hq,definition_hq")


def build_sample(out: Path, configs: str = ALL_INSTANCE_CONFIGS) -> Path:
    """The embedded sample with the instance configurations the recipes train on (every one by default)."""
    from release_helpers import build_sample as build

    return build(out, out.parent / "table-cache", "--configs", configs)


def sample_texts(dataset: Path, cache_dir: Path) -> list[str]:
    import datasets

    ds = datasets.load_dataset(str(dataset), "steps_ordered", cache_dir=str(cache_dir))
    return [r["prompt"] + r["completion"] for split in ds.values() for r in split]


def train_tokenizer(texts: list[str], out: Path, pad: bool = True, seq2seq: bool = False, vocab_size: int = 1000) -> Path:
    """A byte-level BPE tokenizer; ``pad=False`` leaves the pad token out (the recipes must set one)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    if seq2seq:  # T5 appends EOS to every encoded text
        tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))])
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", unk_token="<unk>", pad_token="<pad>" if pad else None)
    wrapped.save_pretrained(out)
    return out


def tiny_causal_lm(tokenizer_dir: Path, out: Path, always_eos: bool = False, answer: str | None = None) -> Path:
    """A 2-layer Llama; ``always_eos`` makes it predict EOS after every prompt (tests that generation stops);
    ``answer`` (one token of the vocabulary) makes it answer every prompt with that token, then EOS."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=2048, eos_token_id=tok.eos_token_id, bos_token_id=None,
        pad_token_id=tok.pad_token_id, tie_word_embeddings=not (always_eos or answer),
    )
    model = LlamaForCausalLM(config)
    if always_eos:  # layers add nothing, every embedding is positive on dim 0, only EOS reads dim 0
        with torch.no_grad():
            for layer in model.model.layers:
                layer.self_attn.o_proj.weight.zero_()
                layer.mlp.down_proj.weight.zero_()
            model.model.embed_tokens.weight[:, 0] = 1.0
            model.lm_head.weight.zero_()
            model.lm_head.weight[tok.eos_token_id, 0] = 1.0
    if answer:  # the same bigram machine: every token -> the answer (dim 0), the answer -> EOS (dim 1)
        (token,) = tok.encode(answer, add_special_tokens=False)
        with torch.no_grad():
            for layer in model.model.layers:
                layer.self_attn.o_proj.weight.zero_()
                layer.mlp.down_proj.weight.zero_()
            model.model.embed_tokens.weight[:, :2] = torch.tensor([1.0, 0.0])
            model.model.embed_tokens.weight[token, 1] = 10.0
            model.lm_head.weight.zero_()
            model.lm_head.weight[token, 0] = 1.0
            model.lm_head.weight[tok.eos_token_id, 1] = 10.0
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def tiny_t5(tokenizer_dir: Path, out: Path, dropout: float = 0.1) -> Path:
    import torch
    from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(tok), d_model=48, d_ff=96, d_kv=12, num_layers=2, num_decoder_layers=2, num_heads=4,
        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id,
        feed_forward_proj="gated-gelu", tie_word_embeddings=False, dropout_rate=dropout,
    )
    T5ForConditionalGeneration(config).save_pretrained(out)
    tok.save_pretrained(out)
    return out
