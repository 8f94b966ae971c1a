"""Accounts (the admin's) and API tokens (each account's own; the admin's: everyone's)."""

from __future__ import annotations

from pydantic import ValidationError

from omniline.console import access
from omniline.console.endpoints import ApiError, Call, invalid, not_found
from omniline.console.handlers.common import Context, bad
from omniline.console.schemas import AccountBody, AccountPatch, NewToken, Page, TokenBody
from omniline.model.account import Account, ApiToken, Role


class AccountPage(Page[Account]):
    pass


class TokenPage(Page[ApiToken]):
    pass


class AccountEndpoints:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def list_accounts(self, call: Call) -> AccountPage:
        return AccountPage(items=await self.ctx.accounts.all())

    async def create_account(self, call: Call) -> Account:
        body = call.body_as(AccountBody)
        accounts = self.ctx.accounts
        account = self._checked_account(
            Account(
                id=body.id,
                name=body.name,
                role=body.role,
                operator_id=body.operator_id,
                lines=tuple(body.lines) if body.lines is not None else None,
            )
        )
        if not await accounts.create(account):
            raise ApiError(409, "conflict", f"account {body.id!r} exists already")
        if body.password is not None:
            await accounts.set_password(account.id, body.password)
        return account

    async def update_account(self, call: Call) -> Account:
        body = call.body_as(AccountPatch)
        accounts = self.ctx.accounts
        account_id = call.path("account_id")
        account = await accounts.get(account_id)
        if account is None:
            raise not_found(f"account {account_id!r}")
        changes = body.model_dump(exclude_unset=True, exclude={"password"})
        if "lines" in changes and changes["lines"] is not None:
            changes["lines"] = tuple(changes["lines"])
        access.may_disable(call.account, account_id, changes)
        changed = self._checked_account(account.model_copy(update=changes))
        await accounts.save(changed)
        if body.password is not None:
            await accounts.set_password(account_id, body.password)
        return changed

    def _checked_account(self, account: Account) -> Account:
        host = self.ctx.host
        try:
            account = Account.model_validate(account.model_dump())
        except ValidationError as exc:
            raise invalid(exc, "body") from None
        if account.operator_id is not None and account.operator_id not in host.operator_names:
            raise bad("body.operator_id", f"no operator {account.operator_id!r}")
        if account.role is Role.OPERATOR and account.operator_id is None:
            raise bad("body.operator_id", "an operator account needs the operator it acts as")
        unknown = [line for line in account.lines or () if line not in host.lines]
        if unknown:
            raise bad("body.lines", "no such lines: " + ", ".join(unknown))
        return account

    async def list_tokens(self, call: Call) -> TokenPage:
        return TokenPage(items=await self.ctx.accounts.tokens(access.tokens_owner(call.account)))

    async def create_token(self, call: Call) -> NewToken:
        body = call.body_as(TokenBody)
        accounts = self.ctx.accounts
        owner = body.account_id or call.account.id
        access.may_make_token_for(call.account, owner)
        if await accounts.get(owner) is None:
            raise bad("body.account_id", f"no account {owner!r}")
        secret, record = await accounts.create_token(owner, body.name)
        return NewToken(token=secret, record=record)

    async def revoke_token(self, call: Call) -> None:
        token_id = call.path_int("token_id")
        accounts = self.ctx.accounts
        access.may_revoke(call.account, await accounts.token(token_id), token_id)
        await accounts.revoke_token(token_id)
