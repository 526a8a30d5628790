/** A response body as loosely-typed JSON, for assertions. */

export const json = async (response: Response): Promise<any> => response.json();
