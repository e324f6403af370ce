"""FLOPs of a training step as the recipes compute it, and the ledger of the steps the GPU benchmark timed."""

from __future__ import annotations

from dataclasses import dataclass, field

FLOP_FORMULA = (
    "train FLOPs = 3 x forward FLOPs (backward = 2 x forward; activation recomputation not counted: this is MFU, "
    "not hardware FLOPs utilisation). forward FLOPs of a micro-batch = 2 x P_tok x T (every nn.Linear weight a token "
    "multiplies; embedding lookups are free) + attention: QK^T and AV cost 4 x s_q x s_k x (heads x head_dim) per "
    "layer and sequence, on the real per-instance lengths (padding-free segments or non-pad tokens): causal self-"
    "attention counts half of s^2, T5 encoder self-attention all of s_enc^2, T5 cross-attention s_dec x s_enc. "
    "The output layer (lm_head): on the loss tokens only for the causal recipe (TRL's fused LM head projects only "
    "the positions whose label is not -100), on every non-pad decoder token for T5. T5: encoder tokens multiply the "
    "encoder's weights and the decoder's cross-attention K/V; decoder tokens the rest of the decoder. Only non-pad "
    "tokens count. mfu = FLOPs / timed seconds / peak."
)


@dataclass
class FlopModel:
    """The per-token weights and attention shape of a model, read from its modules (see FLOP_FORMULA)."""

    encoder_params: int  # weights an encoder token multiplies (T5); 0 for a causal LM
    decoder_params: int  # weights a decoder / causal token multiplies, the output layer excluded
    head_params: int  # the output layer
    attn_width: int
    encoder_layers: int
    decoder_layers: int
    total_params: int
    head_on_loss_tokens_only: bool = False

    @classmethod
    def of(cls, model, head_on_loss_tokens_only: bool = False) -> "FlopModel":
        import torch

        head = model.get_output_embeddings()
        enc = dec = out = 0
        for name, module in model.named_modules():
            if not isinstance(module, torch.nn.Linear):
                continue
            is_cross_kv = ".EncDecAttention." in name and name.endswith((".k", ".v"))
            if module is head:
                out += module.weight.numel()
            elif name.startswith("encoder.") or is_cross_kv:
                enc += module.weight.numel()
            else:
                dec += module.weight.numel()
        config = model.config
        if config.is_encoder_decoder:
            width, enc_layers, dec_layers = config.num_heads * config.d_kv, config.num_layers, config.num_decoder_layers
        else:
            head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
            width, enc_layers, dec_layers = config.num_attention_heads * head_dim, 0, config.num_hidden_layers
        total = sum(p.numel() for p in model.parameters())
        return cls(enc, dec, out, width, enc_layers, dec_layers, total, head_on_loss_tokens_only)

    def train_flops(self, enc_lengths: list[int], dec_lengths: list[int], loss_tokens: int | None = None) -> float:
        """FLOPs of one micro-batch (forward + backward) given each instance's encoder / decoder length."""
        head_tokens = loss_tokens if self.head_on_loss_tokens_only and loss_tokens is not None else sum(dec_lengths)
        forward = 2 * self.encoder_params * sum(enc_lengths) + 2 * self.decoder_params * sum(dec_lengths)
        forward += 2 * self.head_params * head_tokens
        attn = 4 * self.attn_width
        forward += attn * self.encoder_layers * sum(s * s for s in enc_lengths)
        forward += attn * self.decoder_layers * sum(s * s / 2 for s in dec_lengths)
        if enc_lengths:
            forward += attn * self.decoder_layers * sum(d * e for d, e in zip(dec_lengths, enc_lengths))
        return 3 * forward


def instance_lengths(inputs: dict, encoder_decoder: bool) -> tuple[list[int], list[int]]:
    """(encoder lengths, decoder lengths) of the instances of a micro-batch, pads left out.

    T5 batches are padded (``attention_mask``; labels padded with -100); causal padding-free
    batches are one row whose ``position_ids`` restart at 0 for each instance.
    """
    if encoder_decoder:
        return inputs["attention_mask"].sum(dim=1).tolist(), (inputs["labels"] != -100).sum(dim=1).tolist()
    if "position_ids" in inputs and inputs["input_ids"].shape[0] == 1:
        starts = (inputs["position_ids"][0] == 0).nonzero().flatten().tolist() + [inputs["input_ids"].shape[1]]
        return [], [b - a for a, b in zip(starts, starts[1:])]
    if "attention_mask" in inputs:
        return [], inputs["attention_mask"].sum(dim=1).tolist()
    return [], [inputs["input_ids"].shape[1]] * inputs["input_ids"].shape[0]


@dataclass
class StepLedger:
    """The micro-batches ``training_step`` received, by optimizer step, and the clock at each step's end.

    The batches are kept (references only) and counted after training: counting on the fly would
    read GPU tensors and stall the device between micro-batches. The clock is a CUDA event on a GPU
    (recorded in stream order, read after training: no host sync per step) and ``perf_counter`` on CPU.
    """

    flop_model: FlopModel
    batches: list = field(default_factory=list)
    marks: dict = field(default_factory=dict)  # step -> event or perf_counter value; step 0 = training start

    def record(self, step: int, inputs: dict) -> None:
        keep = ("input_ids", "attention_mask", "labels", "position_ids")
        self.batches.append((step, {k: inputs[k] for k in keep if k in inputs}))

    def seconds(self) -> dict[int, float]:
        """Each step's end in seconds after the training start (events read once, after a sync)."""
        start = self.marks[0]
        if isinstance(start, float):
            return {step: mark - start for step, mark in self.marks.items()}
        start.synchronize()
        for mark in self.marks.values():
            mark.synchronize()
        return {step: start.elapsed_time(mark) / 1000 for step, mark in self.marks.items()}

    def step_work(self) -> dict[int, tuple[int, int, float]]:
        """Useful tokens, loss tokens and FLOPs of each optimizer step."""
        work: dict[int, list] = {}
        for step, inputs in self.batches:
            enc, dec = instance_lengths(inputs, self.flop_model.encoder_layers > 0)
            loss_tokens = int((inputs["labels"] != -100).sum())
            flops = self.flop_model.train_flops(enc, dec, loss_tokens)
            acc = work.setdefault(step, [0, 0, 0.0])
            acc[0] += sum(enc) + sum(dec)
            acc[1] += loss_tokens
            acc[2] += flops
        return {step: tuple(v) for step, v in work.items()}
