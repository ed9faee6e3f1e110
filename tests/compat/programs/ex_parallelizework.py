# After restatedev/examples python/patterns-use-cases/parallelizework/app.py and utils.py
# (MIT licence, Restate). Fan out steps, gather them, aggregate.
import restate
from pydantic import BaseModel


class Task(BaseModel):
    description: str


class SubTask(BaseModel):
    description: str


class SubTaskList(BaseModel):
    subtasks: list[SubTask]


class SubTaskResult(BaseModel):
    description: str


class Result(BaseModel):
    description: str


async def split(task: Task) -> SubTaskList:
    return SubTaskList(subtasks=[SubTask(description=d) for d in task.description.split(",")])


def execute_subtask(subtask: SubTask) -> SubTaskResult:
    return SubTaskResult(description=f"{subtask}: DONE")


def aggregate(sub_results: list[SubTaskResult]) -> Result:
    return Result(description=",".join(r.description for r in sub_results))


fan_out_worker = restate.Service("FanOutWorker")


@fan_out_worker.handler()
async def run(ctx: restate.Context, task: Task) -> Result:
    subtasks = await ctx.run_typed("split task", split, task=task)
    pending = [ctx.run_typed(f"execute {s}", execute_subtask, subtask=s) for s in subtasks.subtasks]
    done = await restate.gather(*pending)
    return aggregate([await r for r in done])


app = restate.app([fan_out_worker])
