"""Old job names: a survey scheduled before the upgrade to cases names `workers.agent.send_survey`, and RQ finds a job
by that dotted path when it runs, maybe days later. The survey itself is workers/survey.py's."""

from __future__ import annotations

from workers.survey import send_survey as send_survey
