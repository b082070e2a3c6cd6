"""An obviously correct, slow order book to check the engine against.

Every resting order sits in one list; each step searches it for the best
counter-order by (price, arrival). Same rules as the engine, written plainly.
"""

from dataclasses import dataclass

from quoteflow.events.exchange import OrderType, Side, TimeInForce


@dataclass
class Resting:
    order_id: int
    trader: str
    side: Side
    price: int
    quantity: int
    filled: int
    priority: int
    expire_ns: int | None

    @property
    def open(self):
        return self.quantity - self.filled


class ReferenceBook:
    def __init__(self, instrument):
        self.instrument = instrument
        self.last = instrument.ticks(instrument.reference_price)
        self.resting: list[Resting] = []
        self.executions = []  # (price, quantity, aggressor, buy id, sell id)
        self.final = {}  # order id -> terminal status
        self.arrivals = 0

    def _arrival(self):
        self.arrivals += 1
        return self.arrivals

    def expire(self, now):
        due = sorted((o for o in self.resting if o.expire_ns is not None and o.expire_ns <= now),
                     key=lambda o: (o.expire_ns, o.order_id))  # fmt: skip
        for order in due:
            self.resting.remove(order)
            self.final[order.order_id] = "expired"

    def _crosses(self, incoming, other):
        if other.side == incoming.side:
            return False
        return other.price <= incoming.price if incoming.side is Side.BUY else \
            other.price >= incoming.price  # fmt: skip

    def _match(self, incoming):
        while incoming.open:
            candidates = [o for o in self.resting if self._crosses(incoming, o)]
            if not candidates:
                return
            sign = 1 if incoming.side is Side.BUY else -1
            best = min(candidates, key=lambda o: (sign * o.price, o.priority))
            self.resting.remove(best)
            if best.trader == incoming.trader:
                self.final[best.order_id] = "cancelled"
                continue
            quantity = min(incoming.open, best.open)
            incoming.filled += quantity
            best.filled += quantity
            self.last = best.price
            buy, sell = (incoming, best) if incoming.side is Side.BUY else (best, incoming)
            self.executions.append((best.price, quantity, incoming.side, buy.order_id,
                                    sell.order_id))  # fmt: skip
            if best.open:
                self.resting.append(best)  # keeps its priority number, so still first
            else:
                self.final[best.order_id] = "filled"

    def submit(self, order_id, order):
        self.expire(order.received_ns)
        low, high = self.instrument.band(self.last)
        limit = order.price if order.price is not None else (
            high if order.side is Side.BUY else low)  # fmt: skip
        incoming = Resting(order_id, order.trader, order.side, limit, order.quantity, 0, 0,
                           order.expire_ns)  # fmt: skip
        if order.time_in_force is TimeInForce.FOK:
            available = sum(o.open for o in self.resting
                            if self._crosses(incoming, o) and o.trader != order.trader)  # fmt: skip
            if available < order.quantity:
                self.final[order_id] = "cancelled"
                return
        self._match(incoming)
        if incoming.open == 0:
            self.final[order_id] = "filled"
        elif order.type is OrderType.MARKET or order.time_in_force in (
            TimeInForce.IOC,
            TimeInForce.FOK,
        ):
            self.final[order_id] = "cancelled"
        else:
            incoming.priority = self._arrival()
            self.resting.append(incoming)

    def _find(self, order_id, trader):
        return next((o for o in self.resting if o.order_id == order_id and o.trader == trader),
                    None)  # fmt: skip

    def cancel(self, order_id, trader, now):
        self.expire(now)
        order = self._find(order_id, trader)
        if order is not None:
            self.resting.remove(order)
            self.final[order_id] = "cancelled"

    def amend(self, order_id, trader, now, quantity=None, price=None):
        self.expire(now)
        order = self._find(order_id, trader)
        if order is None:
            return
        quantity = order.quantity if quantity is None else quantity
        price = order.price if price is None else price
        if quantity <= order.filled:
            self.resting.remove(order)
            self.final[order_id] = "cancelled"
        elif price == order.price and quantity <= order.quantity:
            order.quantity = quantity
        else:
            self.resting.remove(order)
            order.quantity, order.price = quantity, price
            self._match(order)
            if order.open:
                order.priority = self._arrival()
                self.resting.append(order)
            else:
                self.final[order_id] = "filled"

    def book(self):
        """Open orders per side in priority order: (id, price, open)."""
        bids = sorted((o for o in self.resting if o.side is Side.BUY),
                      key=lambda o: (-o.price, o.priority))  # fmt: skip
        asks = sorted((o for o in self.resting if o.side is Side.SELL),
                      key=lambda o: (o.price, o.priority))  # fmt: skip
        return [[(o.order_id, o.price, o.open) for o in side] for side in (bids, asks)]
