/**
 * A TypeDoc plugin (typedoc.json loads it) for src/index.ts's `export const { add, mul, ... } =
 * ops(elementwiseOps)`: `ops` wraps each function of a module and keeps its type, so each exported
 * name is a variable whose type is the wrapped function's. TypeDoc documents such a variable only
 * from a comment on the binding itself; this gives it the comment of the function it wraps (the
 * one in src/tensor/ops/*.ts), so the reference shows one text, written once, next to the code.
 */
import ts from 'typescript';
import { Converter, ReflectionKind } from 'typedoc';

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_CREATE_DECLARATION, (context, reflection) => {
    if (!reflection.kindOf(ReflectionKind.Variable) || reflection.comment) return;
    const symbol = context.getSymbolFromReflection(reflection);
    const binding = symbol?.declarations?.find(ts.isBindingElement);
    if (!binding) return;
    const [signature] = context.checker.getTypeOfSymbolAtLocation(symbol, binding).getCallSignatures();
    const declaration = signature?.getDeclaration();
    if (declaration) reflection.comment = context.getSignatureComment(declaration)?.clone();
  });
}
