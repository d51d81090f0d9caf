"""Input rules of PyTorch models: an integer input that indexes an embedding (found in the exported program's
graph, or the module's only `nn.Embedding`) gets integers below its row count, and an input named like an
attention mask gets ones with trailing zeros."""

from __future__ import annotations

from modelport.core.model import InputRule


def _mask_rule(name: str) -> InputRule | None:
    if "mask" in name.lower():
        return InputRule("named like an attention mask: ones, then padding zeros (1 to all tokens kept per row)",
                         mask=True)
    return None


def torch_rules(model) -> dict[str, InputRule]:
    rules = {s.name: r for s in model.inputs if (r := _mask_rule(s.name)) is not None}
    ints = [s for s in model.inputs if not s.dtype.startswith("float") and s.dtype != "bool" and s.name not in rules]
    if not ints:
        return rules
    if model.program is not None:
        found = _program_embeddings(model)
        rules.update({name: rule for name, rule in found.items() if name not in rules})
    else:
        rows = [m.num_embeddings for m in model.module.modules() if type(m).__name__ == "Embedding"
                and hasattr(m, "num_embeddings")]
        if rows and len(ints) == 1:
            rules[ints[0].name] = InputRule(f"the module's Embedding ({min(rows)} rows): integers in "
                                            f"[0, {min(rows)})", integers=(0, int(min(rows))))
    return rules


# ops that pass their first argument's values through unchanged (a view, a copy, a cast, a slice)
_SAME_VALUES = {"view", "reshape", "_unsafe_view", "_to_copy", "to", "clone", "contiguous", "unsqueeze", "squeeze",
                "expand", "flatten", "slice", "select", "alias", "lift_fresh_copy", "permute", "transpose"}


def _op_name(node) -> str:
    """aten.view.default -> view."""
    target = str(node.target)
    parts = target.split(".")
    return parts[1] if len(parts) >= 2 and parts[0] == "aten" else parts[-2] if len(parts) >= 2 else target


def _program_embeddings(model) -> dict[str, InputRule]:
    """Integer user inputs that reach an aten.embedding as its indices (through view-like ops)."""
    from torch.export.graph_signature import InputKind

    program = model.program
    user = [s.arg.name for s in program.graph_signature.input_specs if s.kind == InputKind.USER_INPUT]
    names = dict(zip(user, [s.name for s in model.inputs]))
    rules = {}
    for node in program.graph.nodes:
        if node.op != "call_function" or "embedding" not in str(node.target) or len(node.args) < 2:
            continue
        weight, source = node.args[0], node.args[1]
        while getattr(source, "op", None) == "call_function" and source.args and source.name not in names \
                and _op_name(source) in _SAME_VALUES:
            source = source.args[0]  # back through view / reshape / to: the input's own values index it
        # not through arithmetic: OPT's positions are cumsum(attention_mask) + 2, which says nothing of the mask
        val = getattr(weight, "meta", {}).get("val")
        if getattr(source, "name", None) in names and val is not None:
            rows = int(val.shape[0])
            name = names[source.name]
            if name not in rules or rules[name].integers[1] > rows:
                rules[name] = InputRule(f"indexes an embedding of {rows} rows: integers in [0, {rows})",
                                        integers=(0, rows))
    return rules
