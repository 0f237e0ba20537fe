"""The domain: accounts, lists and tasks, live updates, scores and mini-program login.

No Tornado and no pymongo here: services take and return plain values, reach MongoDB
through ``store``, and refuse with the errors of ``services.errors``. ``build()``
makes one set for a process; tests build their own, with their own database.
"""

from __future__ import annotations

from dataclasses import dataclass

from config import Config
from store import Store

from .account_data import AccountData
from .accounts import Accounts
from .changes import Changes
from .lists import Lists
from .live import Hub
from .miniprogram import MiniProgramLogin, PlatformApp
from .passwords import Passwords
from .scores import Scores
from .tasks import Tasks


@dataclass
class Services:
    store: Store
    accounts: Accounts
    account_data: AccountData
    tasks: Tasks
    lists: Lists
    changes: Changes
    scores: Scores
    miniprogram: MiniProgramLogin
    live: Hub | None  # None when live updates are off

    async def ping(self) -> None:
        """Returns when the database answers; raises when it does not."""
        await self.store.ping()


def passwords_for(config: Config) -> Passwords:
    return Passwords(
        memory_kib=config.password_hash_memory,
        iterations=config.password_hash_iterations,
        lanes=config.password_hash_lanes,
        threads=config.password_checks,
    )


def build(config: Config, store: Store, passwords: Passwords | None = None) -> Services:
    accounts = Accounts(
        store,
        passwords or passwords_for(config),
        token_ttl=config.token_ttl,
        registration=config.registration,
        checks_per_minute=config.password_checks_per_minute,
    )
    apps = {
        "wechat": PlatformApp(config.wechat_appid, config.wechat_secret, config.wechat_api_base),
        "toutiao": PlatformApp(
            config.toutiao_appid, config.toutiao_secret, config.toutiao_api_base
        ),
    }
    return Services(
        store=store,
        accounts=accounts,
        account_data=AccountData(store, accounts),
        tasks=Tasks(store, max_per_user=config.max_tasks_per_user),
        lists=Lists(
            store,
            max_members=config.max_members_per_list,
            max_lists_per_user=config.max_lists_per_user,
        ),
        changes=Changes(store),
        scores=Scores(store, max_per_day=config.max_scores_per_day),
        miniprogram=MiniProgramLogin(accounts, apps),
        live=Hub(store, max_sockets_per_user=config.live_max_sockets) if config.live else None,
    )
