"""The demo line's bot: a coffee roaster's front desk that hands over to a person on request."""

from __future__ import annotations

from omniline.model import Button
from omniline.pipeline import ButtonPressed, Command, MessageContext, Regex, Router

bot = Router("demo")

MENU = [
    [Button(text="Opening hours", payload="hours"), Button(text="Delivery", payload="delivery")],
    [Button(text="Talk to a person", payload="omniline:operator")],
]


@bot.message(Command("start") | Regex(r"(?i)^\s*(hi|hello|hey|good (morning|afternoon|evening))\b"))
async def greet(ctx: MessageContext) -> None:
    name = ctx.dialog.identity.display_name
    hello = f"Hello, {name}!" if name else "Hello!"
    ctx.reply(
        f"{hello} I am the Acme Coffee bot. What can I help you with?",
        buttons=MENU,
    )


@bot.message(ButtonPressed("hours") | Regex(r"(?i)\b(hours|open|opening|close|closing)\b"))
async def hours(ctx: MessageContext) -> None:
    ctx.reply(
        "Our roastery café is open Monday to Friday 8:00-19:00 and Saturday 9:00-17:00. "
        "On Sundays we rest.",
        buttons=MENU,
    )


@bot.message(ButtonPressed("delivery") | Regex(r"(?i)\b(deliver|delivery|shipping)\b"))
async def delivery(ctx: MessageContext) -> None:
    ctx.reply(
        "We roast on Mondays and Thursdays and ship the same day. Delivery takes 1-3 working "
        "days; orders over 40 EUR ship free.",
        buttons=MENU,
    )


@bot.message()
async def fallback(ctx: MessageContext) -> None:
    ctx.reply(
        "I am only a bot and did not understand that. Ask about opening hours or delivery, "
        "or press 'Talk to a person'.",
        buttons=MENU,
    )
