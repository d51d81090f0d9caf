"""chain: member k's outputs feed member k+1's inputs (`--map OUT=IN`, dtypes cast); the last member's outputs
are the ensemble's."""

from __future__ import annotations

from modelport.core.errors import UsageError
from modelport.fuse.base import Combination, Context, FuseRequest, Strategy
from modelport.fuse.members import Member, Members

CASTS = {"float32": 1, "float64": 11, "int64": 7, "int32": 6}  # onnx.TensorProto element types


def _check_maps(members: list[Member], maps: dict[str, str]) -> None:
    for out, inp in maps.items():
        if not any(any(o["name"] == out for o in p.outputs) and any(i["name"] == inp for i in c.inputs)
                   for p, c in zip(members, members[1:])):
            raise UsageError(f"--map {out}={inp} matches no output of one member and input of the next",
                             hint="outputs: " + "; ".join(f"member {m.index}: {', '.join(o['name'] for o in m.outputs)}"
                                                          for m in members))


def _links(prev: Member, cur: Member, maps: dict[str, str]) -> dict[str, str]:
    """Which outputs of `prev` feed which inputs of `cur`: --map, or a lone float output into a lone input."""
    links = {o: i for o, i in maps.items() if any(x["name"] == o for x in prev.outputs)
             and any(x["name"] == i for x in cur.inputs)}
    if not links:
        if len(cur.inputs) != 1:
            raise UsageError(f"member {cur.index} takes {len(cur.inputs)} inputs: map them with --map OUT=IN")
        floats = [o for o in prev.outputs if o["dtype"].startswith("float")]
        pick = prev.outputs if len(prev.outputs) == 1 else floats
        if len(pick) != 1:
            raise UsageError(f"member {prev.index} has outputs {', '.join(o['name'] for o in prev.outputs)}: "
                             f"say which feeds member {cur.index}", hint="--map OUT=IN")
        links = {pick[0]["name"]: cur.inputs[0]["name"]}
    missing = [i["name"] for i in cur.inputs if i["name"] not in links.values()]
    if missing:
        raise UsageError(f"member {cur.index} input(s) {', '.join(missing)} are fed by nothing",
                         hint="--map OUT=IN for each input")
    return links


class Chain(Strategy, name="fuse-chain", method="chain", order=50,
            description="member k's output feeds member k+1's input (--map OUT=IN)"):
    parallel = False

    def combine(self, members: Members, request: FuseRequest, ctx: Context) -> Combination:
        from onnx import helper

        from modelport.fuse import graph

        _check_maps(members, request.maps)
        segments, link_maps = [graph.prefixed(members[0].proto, "m0_")], []
        for prev, cur in zip(members, members[1:]):
            links, nodes = _links(prev, cur, request.maps), []
            for out, inp in links.items():
                src, dst = f"m{prev.index}_{out}", f"m{cur.index}_{inp}"
                want = next(i["dtype"] for i in cur.inputs if i["name"] == inp)
                have = prev.output(out)["dtype"]
                if want == have:
                    nodes.append(helper.make_node("Identity", [src], [dst]))
                elif want in CASTS:
                    nodes.append(helper.make_node("Cast", [src], [dst], to=CASTS[want]))
                else:
                    raise UsageError(f"cannot feed {have} output '{out}' into {want} input '{inp}'")
            prev.chosen = ",".join(links)
            link_maps.append(links)
            segments += [nodes, graph.prefixed(cur.proto, f"m{cur.index}_", rename_inputs=True)]
        last = members[-1]
        outputs, nodes = [], []
        for out in last.proto.graph.output:
            nodes.append(helper.make_node("Identity", [f"m{last.index}_{out.name}"], [out.name]))
            outputs.append(graph.renamed_output(out, out.name))
        fused = graph.build(segments + [nodes], [], graph.fused_inputs(members), outputs, ctx.domains,
                            "modelport_chain")

        def reference(feed, members: Members):
            current = feed
            for member, links in zip(members, link_maps):
                out = members.run(member.index, current)
                current = {inp: out[o] for o, inp in links.items()}
            return members.run(members[-1].index, current)

        links = {f"{p.index}->{c.index}": lm for p, c, lm in zip(members, members[1:], link_maps)}
        return Combination(fused, reference, {"links": links})
