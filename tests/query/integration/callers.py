"""The people who query the test world, and what each may see (see world.py)."""

from __future__ import annotations

from query.access import Caller

ALICE = Caller("alice", frozenset({"risk"}))  # risk, plus n-chat-1 shared with her
CAROL = Caller("carol", frozenset({"vision"}))  # vision only
DAVE = Caller("dave", frozenset({"nlp"}))  # nlp, plus vision/detector shared with team nlp
ADMIN = Caller("root", frozenset(), admin=True)
STRANGER = Caller("mallory", frozenset({"elsewhere"}))  # sees nothing

RISK_RUNS = {"r-churn-1", "r-churn-2", "r-churn-3", "r-churn-4", "r-churn-5", "r-credit-1"}
VISION_RUNS = {"v-det-1", "v-det-2"}
NLP_RUNS = {"n-chat-1", "n-chat-2"}
ALL_RUNS = RISK_RUNS | VISION_RUNS | NLP_RUNS

VISIBLE_RUNS = {
    ALICE: RISK_RUNS | {"n-chat-1"},
    CAROL: VISION_RUNS,
    DAVE: NLP_RUNS | VISION_RUNS,
    ADMIN: ALL_RUNS,
    STRANGER: set(),
}
