"""Orders use cases, one module per aggregate: `carts`, `checkout` (placing and settling an
order), `fulfilment` (ship, deliver, cancel, refund), `returns`. None of them commits, except
the checkout's documented first step."""
