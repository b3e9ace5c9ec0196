"""YAML read safely: PyYAML's safe loader, refusing what a search space or a genotype value never needs and a
hostile file uses (anchors and aliases, a key given twice, nesting deep enough to exhaust Python's stack)."""

from __future__ import annotations

from typing import Any

import yaml

# Lists and mappings inside one another: a space needs 4 (experiment.groups: a list of lists in a mapping); PyYAML
# composes each level by recursion, and a few hundred "[" exhaust Python's stack.
MAX_NESTING = 20


class _NoAliasLoader(yaml.SafeLoader):
    """A safe loader that refuses anchors and aliases (they add nothing to a search space and enable exponential
    'billion laughs' documents), a key given twice in one mapping (YAML would keep the last silently) and lists or
    mappings nested more than ``MAX_NESTING`` deep."""

    nesting = 0  # the lists and mappings the node being composed is inside

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            kind = "aliases" if isinstance(event, yaml.AliasEvent) else "anchors"
            raise yaml.YAMLError(f"YAML {kind} are not allowed (line {event.start_mark.line + 1})")
        if self.nesting >= MAX_NESTING:
            raise yaml.YAMLError(
                f"lists and mappings nested more than {MAX_NESTING} deep (line {event.start_mark.line + 1}); a "
                "search space nests a few levels: check the brackets"
            )
        self.nesting += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.nesting -= 1

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.YAMLError(f"key {key!r} is given twice (line {key_node.start_mark.line + 1}); keep one")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """``text`` as YAML data, read safely (``_NoAliasLoader``): a space file, or a value of a genotype id.

    Raises:
        yaml.YAMLError: not YAML, or YAML that the loader refuses.
    """
    return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
