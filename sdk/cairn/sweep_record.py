"""How a sweep is recorded as ordinary runs: re-exported from the contract.

The names are part of the contract (``cairn_contract.sweep_record``: the SDK writes them, the
server's query layer reads them); this module keeps ``cairn.sweep_record`` importable.
"""

from __future__ import annotations

from cairn_contract.sweep_record import (
    BEST_RUN_TAG as BEST_RUN_TAG,
)
from cairn_contract.sweep_record import (
    BEST_TRIAL_TAG as BEST_TRIAL_TAG,
)
from cairn_contract.sweep_record import (
    DIRECTIONS_PARAM as DIRECTIONS_PARAM,
)
from cairn_contract.sweep_record import (
    N_TRIALS_PARAM as N_TRIALS_PARAM,
)
from cairn_contract.sweep_record import (
    OBJECTIVES_PARAM as OBJECTIVES_PARAM,
)
from cairn_contract.sweep_record import (
    PARETO_TRIALS_TAG as PARETO_TRIALS_TAG,
)
from cairn_contract.sweep_record import (
    PRUNED_STEP_TAG as PRUNED_STEP_TAG,
)
from cairn_contract.sweep_record import (
    PRUNER_PARAM as PRUNER_PARAM,
)
from cairn_contract.sweep_record import (
    ROLE_SWEEP as ROLE_SWEEP,
)
from cairn_contract.sweep_record import (
    ROLE_TAG as ROLE_TAG,
)
from cairn_contract.sweep_record import (
    ROLE_TRIAL as ROLE_TRIAL,
)
from cairn_contract.sweep_record import (
    SAMPLER_PARAM as SAMPLER_PARAM,
)
from cairn_contract.sweep_record import (
    SPACE_PARAM as SPACE_PARAM,
)
from cairn_contract.sweep_record import (
    STATE_TAG as STATE_TAG,
)
from cairn_contract.sweep_record import (
    STUDY_PARAM as STUDY_PARAM,
)
from cairn_contract.sweep_record import (
    TRIAL_STATES as TRIAL_STATES,
)
from cairn_contract.sweep_record import (
    TRIAL_TAG as TRIAL_TAG,
)
from cairn_contract.sweep_record import (
    space_json as space_json,
)
