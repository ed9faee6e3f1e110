# After restatedev/examples python/patterns-use-cases/eventenrichment/app.py (MIT licence,
# Restate). A package tracker keeping pydantic state.
import restate
from pydantic import BaseModel
from restate.exceptions import TerminalError


class LocationUpdate(BaseModel):
    location: str
    timestamp: str


class PackageInfo(BaseModel):
    final_destination: str
    locations: list[LocationUpdate] = []


package_tracker = restate.VirtualObject("package-tracker")


@package_tracker.handler("registerPackage")
async def register_package(ctx: restate.ObjectContext, package_info: PackageInfo):
    ctx.set("package-info", package_info)


@package_tracker.handler("updateLocation")
async def update_location(ctx: restate.ObjectContext, location_update: LocationUpdate):
    info = await ctx.get("package-info", type_hint=PackageInfo)
    if info is None:
        raise TerminalError(f"Package {ctx.key()} not found")
    info.locations.append(location_update)
    ctx.set("package-info", info)


@package_tracker.handler("getPackageInfo", kind="shared")
async def get_package_info(ctx: restate.ObjectSharedContext) -> PackageInfo:
    info = await ctx.get("package-info", type_hint=PackageInfo)
    if not info:
        raise TerminalError("Package not found")
    return info


app = restate.app(services=[package_tracker])
